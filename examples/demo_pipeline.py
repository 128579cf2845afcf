"""A small review-sentiment pipeline in plain Python, recorded with ``@step``.

    python examples/demo_pipeline.py [--store URI]

ingest (split train/eval by a hash of the review id) -> train (naive Bayes over words)
-> evaluate (accuracy overall and per cuisine, blessed above a threshold). It runs in about a
second with no TensorFlow, and records real runs: run it twice and the second ingest is CACHED.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from lineage import Input, Lineage, Output, run, step  # noqa: E402
from lineage.types import Dataset, Examples, Model, ModelBlessing, ModelEvaluation  # noqa: E402

DATA = HERE / "data" / "reviews.csv"
_WORD = re.compile(r"[a-z]+")


def _split_of(key: str, eval_percent: int) -> str:
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    return "eval" if bucket < eval_percent else "train"


@step(type="Ingest", cache=True)
def ingest(raw: Input[Dataset], examples: Output[Examples], eval_percent: int = 20):
    """Split the CSV into train/eval deterministically (a hash of review_id)."""
    examples.path.mkdir()
    with open(raw.path, newline="") as f:
        rows = list(csv.DictReader(f))
    splits = defaultdict(list)
    for row in rows:
        splits[_split_of(row["review_id"], eval_percent)].append(row)
    for name, part in splits.items():
        with open(examples.path / f"{name}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(part)
    examples.properties.update(split_names=json.dumps(sorted(splits)), row_count=len(rows))
    return {name: len(part) for name, part in sorted(splits.items())}


def _read(examples_dir: Path, split: str):
    with open(examples_dir / f"{split}.csv", newline="") as f:
        return list(csv.DictReader(f))


@step(type="Train")
def train(examples: Input[Examples], model: Output[Model], smoothing: float = 1.0):
    """Naive Bayes over lower-cased words."""
    counts = {"0": Counter(), "1": Counter()}
    priors = Counter()
    for row in _read(examples.path, "train"):
        priors[row["label"]] += 1
        counts[row["label"]].update(_WORD.findall(row["text"].lower()))
    model.path.mkdir()
    (model.path / "model.json").write_text(json.dumps(
        {"priors": priors, "counts": counts, "smoothing": smoothing}, sort_keys=True))
    return {"vocabulary": len(set(counts["0"]) | set(counts["1"])), "train_rows": sum(priors.values())}


def _predict(m: dict, text: str) -> int:
    vocab = set(m["counts"]["0"]) | set(m["counts"]["1"])
    total = sum(m["priors"].values())
    scores = {}
    for label in ("0", "1"):
        n = sum(m["counts"][label].values())
        score = math.log(m["priors"][label] / total)
        for w in _WORD.findall(text.lower()):
            score += math.log((m["counts"][label].get(w, 0) + m["smoothing"]) /
                              (n + m["smoothing"] * len(vocab)))
        scores[label] = score
    return int(max(scores, key=scores.get))


@step(type="Evaluate")
def evaluate(model: Input[Model], examples: Input[Examples], evaluation: Output[ModelEvaluation],
             blessing: Output[ModelBlessing], min_accuracy: float = 0.7):
    """Accuracy overall and per cuisine slice; blessed when overall accuracy >= min_accuracy."""
    m = json.loads((model.path / "model.json").read_text())
    hits, seen = Counter(), Counter()
    for row in _read(examples.path, "eval"):
        ok = _predict(m, row["text"]) == int(row["label"])
        for key in ("overall", f"cuisine={row['cuisine']}"):
            seen[key] += 1
            hits[key] += ok
    metrics = {k: round(hits[k] / seen[k], 4) for k in sorted(seen)}
    evaluation.path.write_text(json.dumps({"accuracy": metrics, "examples": seen}, sort_keys=True))
    evaluation.properties["accuracy"] = metrics["overall"]
    blessed = metrics["overall"] >= min_accuracy
    failed = [] if blessed else [f"accuracy {metrics['overall']} < {min_accuracy}"]
    blessing.path.write_text(json.dumps({"blessed": blessed, "failed": failed}))
    blessing.properties.update(blessed=blessed, failed_thresholds=json.dumps(failed))
    return metrics


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=None, help="store URI (default: ./.lineage/metadata.sqlite)")
    ap.add_argument("--smoothing", type=float, default=1.0)
    args = ap.parse_args(argv)
    if not DATA.exists():
        from make_reviews import write

        write(DATA)
    lin = Lineage.open(args.store)
    t0 = time.perf_counter()
    with run(pipeline="reviews-demo", experiment="naive-bayes", store=lin) as r:
        raw = Dataset.at(DATA)
        examples = ingest(raw)
        model = train(examples, smoothing=args.smoothing)
        outs = evaluate(model, examples)
    elapsed = time.perf_counter() - t0
    steps = lin.run_steps(r.name)
    print(f"Recorded run {r.name!r} in {lin.uri} ({elapsed:.2f}s):")
    for ex in steps:
        outputs = ", ".join(f"{k}=a{a[0].id}" for k, a in sorted(lin.outputs(ex).items()))
        print(f"  e{ex.id:<4} {ex.type:<9} {ex.state:<9} -> {outputs}")
    acc = outs.evaluation.custom_properties.get("accuracy")
    print(f"  model a{model.id}: accuracy {acc}, blessed={outs.blessing.properties['blessed']}")
    print("Next, in the checkout: `source .venv/bin/activate` (puts `lineage` on this shell's PATH), then "
          "`lineage ls runs`, `lineage show e%d`, `lineage show a%d`" % (steps[-1].id, model.id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
