"""Distributed serving as the talk shows it: one module server, two heads.

    python examples/distributed_serving.py [--store URI] [--module-server 127.0.0.1:8600]

Run it after examples/reviews_pipeline.py, on the same store. `reviews:1` and `reviews-text:1`
were both trained on module lineage-examples/review-text/1 (not fine-tuned). This run
("split-serving"):

1. exports the module's part as a served model and pushes it as `review-text-encoder` into
   <store home>/serving/modules.config (the module server's config);
2. splits each of the two models into its head, whose module part is a call to
   review-text-encoder on the module server, checked on the eval data to answer as the undivided
   model does, and pushes them as `reviews-split` and `reviews-text-split` into
   <store home>/serving/heads.config (the heads' server's config).

Then serve both (two terminals), and ask a head:

    lineage serve --config .lineage/serving/modules.config --grpc-port 8600 --rest-port 8601 \\
        --batch-size 64 --batch-timeout-ms 2
    lineage serve --config .lineage/serving/heads.config --grpc-port 8500 --rest-port 8501
    curl -d '{"instances": [{"text": "Great ramen!", "cuisine": "japanese", "price_level": 2}]}' \\
        localhost:8501/v1/models/reviews-split:predict
    lineage history reviews-split           # ... its remote part answered by review-text-encoder:1
    lineage impact lineage-examples/review-text/1   # reaches both heads through the module server
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import lineage.components  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from lineage import Lineage, LineageError, run  # noqa: E402
from lineage.components import export_module, push, split_model  # noqa: E402

MODULE_MODEL = "review-text-encoder"
HEADS = (("reviews:1", "reviews-split"), ("reviews-text:1", "reviews-text-split"))


def _parts_of(lin: Lineage, served: str):
    """(model, its transform graph, its blessing, the raw examples its evaluation read) of a
    served version."""
    prov = lin.provenance(served)
    if prov.model is None or not prov.transform_graphs or not prov.blessings:
        raise LineageError(f"{served} has no recorded model, transform graph and blessing: run "
                           f"examples/reviews_pipeline.py on this store first")
    evaluation = next((e for e in prov.steps if e.type == "Evaluate"), None)
    examples = lin.inputs(evaluation).get("examples", [None])[0] if evaluation is not None else None
    return prov.model, prov.transform_graphs[0], prov.blessings[0], examples, prov.hub_modules


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=None, help="store URI (default: ./.lineage/metadata.sqlite)")
    ap.add_argument("--module-server", default="127.0.0.1:8600",
                    help="the gRPC address the heads call the module's server on (default 127.0.0.1:8600)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    lin = Lineage.open(args.store)
    serving = Path(os.environ.get("LINEAGE_SERVING_ROOT") or Path(lin.artifact_root).parent / "serving")
    modules_config, heads_config = serving / "modules.config", serving / "heads.config"
    parts = {served: _parts_of(lin, served) for served, _ in HEADS}
    modules = {m.id: m for *_, mods in parts.values() for m in mods}
    if len(modules) != 1:
        raise LineageError(f"{' and '.join(s for s, _ in HEADS)} were not trained on one module "
                           f"({', '.join(str(m.get('handle')) for m in modules.values())}): nothing to share")
    module = next(iter(modules.values()))
    with run(pipeline="reviews-distributed", experiment="split-serving", store=lin) as r:
        say(f"export {module.get('handle')}'s part, push it as {MODULE_MODEL} ({modules_config})")
        part = export_module(module)
        pushed_part = push(part, None, model_name=MODULE_MODEL, config_path=modules_config)
        for served, head_name in HEADS:
            model, graph, blessing, examples, _ = parts[served]
            say(f"split {served} into its head, push it as {head_name} ({heads_config})")
            head = split_model(model, graph, part, check_examples=examples, module_model=MODULE_MODEL,
                               server=args.module_server)
            push(head, blessing, model_name=head_name, config_path=heads_config)
    print(f"Recorded {r.name}: {MODULE_MODEL}:{pushed_part.properties['pushed_version']} (module server's config "
          f"{modules_config}); heads {', '.join(h for _, h in HEADS)} ({heads_config}), calling "
          f"{MODULE_MODEL} on {args.module_server}.")
    print("Serve them: `lineage serve --config %s --grpc-port %s --rest-port %d --batch-size 64 "
          "--batch-timeout-ms 2` and `lineage serve --config %s`" % (
              modules_config, args.module_server.rsplit(":", 1)[1], int(args.module_server.rsplit(":", 1)[1]) + 1,
              heads_config))
    return 0


if __name__ == "__main__":
    try:
        status = main()
    except LineageError as exc:
        print(f"distributed_serving: error: {exc}", file=sys.stderr)
        status = 1
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)   # TensorFlow can segfault in teardown (tensorflow/tensorflow#59242)
