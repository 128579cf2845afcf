"""Synthetic stores with a realistic shape, for tests (small) and benchmarks (large).

Shape: a few shared raw datasets (one of them, ``hot``, feeding a chosen number of runs) and
shared TF-Hub modules with high fan-out; many pipeline runs of 6-10 steps
(Ingest -> [Statistics] -> [Validate] -> Transform -> [Tune] -> Train -> Evaluate ->
[Explain] -> Push), each step writing one to four artifacts (about three artifacts per
execution overall), training sometimes warm-started from an earlier model; about a third of
the runs push to one of several serving endpoints. Each run is written with one
``put_lineage_subgraph`` call (plus one ``put_execution`` for its push), so a 100k-execution
store takes about a minute.

    python -m lineage.synthetic --store sqlite:///big.sqlite --runs 12500 --hot-runs 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .api import Lineage
from .records import Artifact
from .vocab import METRICS_KEY

__all__ = ["SyntheticStore", "generate"]

# step type -> (artifact types it writes (first is the main one), optional?)
_STEPS: List[Tuple[str, Tuple[str, ...], bool]] = [
    ("Ingest", ("Examples", "Examples", "ExampleStatistics", "Schema"), False),
    ("StatisticsGen", ("ExampleStatistics", "ExampleStatistics"), True),
    ("ExampleValidator", ("ExampleAnomalies",), True),
    ("Transform", ("TransformGraph", "Examples", "Examples", "TransformCache"), False),
    ("Tuner", ("HyperParameters", "TunerResults"), True),
    ("Train", ("Model", "ModelRun", "Metrics"), False),
    ("Evaluate", ("ModelEvaluation", "ModelBlessing", "SliceMetrics", "Plots"), False),
    ("Explain", ("Explanations", "FeatureAttributions"), True),
]


@dataclasses.dataclass
class SyntheticStore:
    """What was generated, for tests and benchmarks to aim at."""

    runs: int = 0
    executions: int = 0
    artifacts: int = 0
    events: int = 0
    datasets: List[int] = dataclasses.field(default_factory=list)
    hot_dataset: Optional[int] = None
    modules: List[int] = dataclasses.field(default_factory=list)
    models: List[int] = dataclasses.field(default_factory=list)
    pushed: List[int] = dataclasses.field(default_factory=list)
    endpoints: List[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def _declare_types() -> None:
    from .schema import REGISTRY

    for name in ("ExampleAnomalies", "TransformCache", "HyperParameters", "TunerResults", "ModelRun",
                 "SliceMetrics", "Plots", "Explanations", "FeatureAttributions"):
        if REGISTRY.get("artifact", name) is None:
            REGISTRY.declare("artifact", name)
    for name, _, _ in _STEPS:
        REGISTRY.execution_type(name)


def _output(rng: random.Random, t: str, uri: str, params: Dict[str, Any]) -> Artifact:
    props: Dict[str, Any] = {"fingerprint": f"sha256:{rng.getrandbits(128):032x}"}
    custom: Dict[str, Any] = {}
    if t == "ModelBlessing":
        props["blessed"] = rng.random() < 0.8
    if t == "Metrics":  # what log_metric keeps: the last value of each metric
        custom = {"accuracy": rng.uniform(0.6, 0.95), "loss": rng.uniform(0.1, 0.7)}
        props.update(metric_names='["loss", "accuracy"]', points=2 * params["epochs"])
    return Artifact(None, t, uri, properties=props, custom_properties=custom)


def generate(lin: Lineage, *, runs: int = 50, datasets: int = 4, modules: int = 3,
             hot_runs: Optional[int] = None, endpoints: int = 4, push_fraction: float = 0.33,
             warm_start_fraction: float = 0.3, seed: int = 0, start_time: float = 1.7e9,
             progress: Optional[Callable[[int, int], None]] = None) -> SyntheticStore:
    """Write ``runs`` synthetic pipeline runs into ``lin``. ``hot_runs`` of them (default: a
    quarter) read the first dataset, the "hot" one; the rest spread over the others."""
    _declare_types()
    rng = random.Random(seed)
    store = lin.store
    out = SyntheticStore()
    t0 = time.perf_counter()
    clock = start_time

    def props(step: str) -> Dict:
        nonlocal clock
        clock += rng.uniform(1, 30)
        return {"started_at": round(clock, 3), "ended_at": round(clock + rng.uniform(0.5, 20), 3),
                "user": rng.choice(["ana", "bo", "chen", "dee"]), "host": "synthetic",
                "git_commit": f"{rng.getrandbits(40):010x}", "step": f"synthetic.{step}"}

    shared = store.put_artifacts(
        [Artifact(None, "Dataset", f"/synthetic/data/dataset-{i}.csv",
                  properties={"fingerprint": f"sha256:{rng.getrandbits(128):032x}", "external": True})
         for i in range(max(1, datasets))])
    out.datasets = [a.id for a in shared]
    out.hot_dataset = out.datasets[0]
    module_ids = []
    for m in range(max(1, modules)):
        ids, arts = store.put_subgraph(
            executions=[("PublishModule", "COMPLETE", props("PublishModule"), {"publisher": "team"})],
            artifacts=[Artifact(None, "HubModule", f"/synthetic/hub/team/text/{m + 1}",
                                properties={"handle": f"team/text/{m + 1}", "publisher": "team",
                                            "module_name": "text", "version": m + 1,
                                            "fingerprint": f"sha256:{rng.getrandbits(128):032x}"})],
            edges=[(0, 0, "OUTPUT", "module")])
        module_ids.append(arts[0])
    out.modules = module_ids
    out.executions += len(module_ids)
    out.artifacts += len(shared) + len(module_ids)
    out.events += len(module_ids)
    names = [f"model-{i}" for i in range(max(1, endpoints))]
    out.endpoints = names
    endpoint_ctx = {n: store.put_context("ServingEndpoint", n, {"model_name": n}).id for n in names}
    versions = {n: 0 for n in names}
    hot = runs // 4 if hot_runs is None else min(hot_runs, runs)
    hot_set = set(rng.sample(range(runs), hot))
    by_dataset: Dict[int, List[int]] = {}  # warm starts stay on the same data
    pipelines = [f"pipeline-{i}" for i in range(3)]
    experiments = ["baseline", "bigger-lr", "hub-v2"]
    pipeline_ctx = {p: store.put_context("Pipeline", p, {"pipeline": p}).id for p in pipelines}

    for r in range(runs):
        pipeline = rng.choice(pipelines)
        run_props = {"pipeline": pipeline, "state": "COMPLETE", "experiment": rng.choice(experiments),
                     "user": rng.choice(["ana", "bo", "chen", "dee"]), "started_at": round(clock, 3)}
        dataset = out.datasets[0] if r in hot_set else rng.choice(out.datasets[1:] or out.datasets)
        chosen = [s for s in _STEPS if not s[2] or rng.random() < 0.5]
        while len(chosen) < 6:  # 6-8 steps, and a Push for some runs
            extra = rng.choice([s for s in _STEPS if s not in chosen])
            chosen = [s for s in _STEPS if s in chosen or s == extra]
        executions: List[Any] = []
        artifacts: List[Any] = [dataset]
        edges: List[Any] = []
        main: Dict[str, int] = {"Dataset": 0}  # type -> artifact index of its latest main output
        for step, writes, _ in chosen:
            ei = len(executions)
            params = {"lr": round(rng.choice([0.001, 0.003, 0.01, 0.03]), 4), "epochs": rng.choice([3, 5, 10]),
                      "batch_size": rng.choice([32, 64])} if step == "Train" else {}
            executions.append((step, "COMPLETE", props(step), params))
            read = {"Ingest": ["Dataset"], "Transform": ["Examples", "Schema"],
                    "Train": ["Examples", "TransformGraph", "HyperParameters"],
                    "Evaluate": ["Model", "Examples"], "Explain": ["Model"]}.get(step, ["Examples"])
            for t in read:
                if t in main:
                    edges.append((ei, main[t], "INPUT", t.lower()))
            if step == "Train":
                artifacts.append(rng.choice(module_ids))
                edges.append((ei, len(artifacts) - 1, "INPUT", "module"))
                same_data = by_dataset.get(dataset, [])
                if same_data and rng.random() < warm_start_fraction:
                    artifacts.append(rng.choice(same_data[-50:]))
                    edges.append((ei, len(artifacts) - 1, "INPUT", "base_model"))
            for k, t in enumerate(writes):
                artifacts.append(_output(rng, t, f"/synthetic/runs/{r}/{step}/{t}-{k}", params))
                edges.append((ei, len(artifacts) - 1, "OUTPUT", METRICS_KEY if t == "Metrics" else f"{t.lower()}_{k}"))
                if k == 0 or t not in main:
                    main[t] = len(artifacts) - 1
        run_props["ended_at"] = round(clock + 20, 3)
        run_ctx = store.put_context("PipelineRun", f"synthetic-run-{r}", run_props).id
        exec_ids, art_ids = store.put_subgraph(executions=executions, artifacts=artifacts,
                                               edges=edges, context_ids=[pipeline_ctx[pipeline], run_ctx])
        model_id = art_ids[main["Model"]]
        out.models.append(model_id)
        by_dataset.setdefault(dataset, []).append(model_id)
        out.executions += len(exec_ids)
        out.artifacts += sum(1 for a in artifacts if not isinstance(a, int))
        out.events += len(edges)
        if rng.random() < push_fraction:
            name = rng.choice(names)
            versions[name] += 1
            pushed = Artifact(None, "PushedModel", f"/synthetic/serving/{name}/{versions[name]}",
                              properties={"model_name": name, "pushed_version": versions[name],
                                          "fingerprint": f"sha256:{rng.getrandbits(128):032x}"})
            _, outs = store.write_execution(
                type="Push", state="COMPLETE",
                properties={**props("Push"), "model_name": name, "target_version": versions[name]},
                inputs=[(model_id, "model"), (art_ids[main["ModelBlessing"]], "blessing")],
                outputs=[(pushed, "pushed")], context_ids=[run_ctx, endpoint_ctx[name]], reread=False)
            out.pushed.append(outs[0].id)
            out.executions += 1
            out.artifacts += 1
            out.events += 3
        out.runs += 1
        if progress is not None and ((r + 1) % 100 == 0 or r + 1 == runs):
            progress(r + 1, runs)
    out.seconds = time.perf_counter() - t0
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--hot-runs", type=int, default=None)
    ap.add_argument("--datasets", type=int, default=8)
    ap.add_argument("--endpoints", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    lin = Lineage.open(args.store)

    def progress(done: int, total: int) -> None:
        print(f"\rrun {done}/{total}", end="", file=sys.stderr, flush=True)

    s = generate(lin, runs=args.runs, hot_runs=args.hot_runs, datasets=args.datasets,
                 endpoints=args.endpoints, seed=args.seed, progress=progress)
    print(file=sys.stderr)
    print(f"{s.runs} runs, {s.executions} executions, {s.artifacts} artifacts, {s.events} events "
          f"in {s.seconds:.1f}s ({s.events / max(s.seconds, 1e-9):.0f} events/s); hot dataset a{s.hot_dataset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
