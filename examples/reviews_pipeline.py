"""The restaurant-review sentiment pipeline from the talk, recorded end to end.

    python examples/reviews_pipeline.py [--store URI] [--rows N] [--epochs N]

Run 1 ("baseline"): publish text-embedding module v1 -> ingest -> tf.Transform -> train a Keras
classifier on the Hub module -> TFMA evaluation -> push `reviews` version 1.
Run 2 ("module-v2"): publish module v2 (bigger vocabulary and vectors), reuse the cached ingest
and transform, fine-tune on v2 warm-started from model 1, evaluate against model 1 as the
baseline, push `reviews` version 2.
Run 3 ("text-only"): a second model, `reviews-text` (text alone), on the same module v1: one
module feeds two served models.

Everything lands in the lineage store (default ./.lineage/metadata.sqlite), the module registry
(./.lineage/hub), the serving directory (./.lineage/serving) and its models.config.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import lineage.components  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from lineage.components import (build_text_embedding, evaluate, ingest, publish_module, push,  # noqa: E402
                        resolve_module, train, transform)
from lineage import Lineage, run  # noqa: E402
from lineage.types import Dataset  # noqa: E402

DATA = HERE / "data" / "reviews.csv"
PUBLISHER, MODULE = "lineage-examples", "review-text"


def vocabulary(size: int):
    """The module's vocabulary: the generator's words, most frequent kinds first."""
    from make_reviews import CUISINES, NEGATIVE, OPENERS, POSITIVE

    words = []
    for phrase in POSITIVE + NEGATIVE + [d for ds in CUISINES.values() for d in ds] + OPENERS:
        words += [w for w in phrase.lower().replace(":", " ").replace(",", " ").replace(".", " ")
                  .replace("!", " ").split() if w.isalpha()]
    return list(dict.fromkeys(words))[:size]


def publish(lin: Lineage, version_vocab: int, dim: int, seed: int):
    """Build a module (kept under <store home>/module-src, recorded as the publish's input)
    and publish it as the next version."""
    src_root = Path(lin.artifact_root).parent / "module-src"
    src_root.mkdir(parents=True, exist_ok=True)
    src = Path(tempfile.mkdtemp(prefix=f"{MODULE}-vocab{version_vocab}-dim{dim}-", dir=src_root))
    build_text_embedding(src / "module", vocabulary(version_vocab), dim=dim, seed=seed)
    return publish_module(src / "module", publisher=PUBLISHER, name=MODULE, store=lin)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=None, help="store URI (default: ./.lineage/metadata.sqlite)")
    ap.add_argument("--rows", type=int, default=0, help="use only the first N rows (0: all)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if not DATA.exists():
        from make_reviews import write

        write(DATA)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    lin = Lineage.open(args.store)
    t0 = time.perf_counter()
    raw = Dataset.at(DATA)
    prep = "reviews_preprocessing:preprocessing_fn"

    with run(pipeline="reviews", experiment="baseline", store=lin) as r1:
        say("run 1: publish module v1, ingest, transform, train, evaluate, push reviews")
        module_v1 = publish(lin, version_vocab=60, dim=16, seed=1)
        data = ingest(raw, max_rows=args.rows)
        xf = transform(data.examples, data.schema, preprocessing_fn=prep)
        model_v1 = train(xf.transformed, xf.transform_graph, module_v1, learning_rate=0.02,
                         epochs=args.epochs)
        ev1 = evaluate(model_v1, data.examples)
        pushed_v1 = push(model_v1, ev1.blessing, model_name="reviews")

    with run(pipeline="reviews", experiment="module-v2", store=lin) as r2:
        say("run 2: module v2, fine-tuned and warm-started from model 1, evaluated against it")
        publish(lin, version_vocab=200, dim=24, seed=2)
        module_v2 = resolve_module(f"{PUBLISHER}/{MODULE}", store=lin)  # the newest version
        data2 = ingest(raw, max_rows=args.rows)                           # cached
        xf2 = transform(data2.examples, data2.schema, preprocessing_fn=prep)  # cached
        model_v2 = train(xf2.transformed, xf2.transform_graph, module_v2, base_model=model_v1,
                         learning_rate=0.01, epochs=args.epochs, trainable=True)
        ev2 = evaluate(model_v2, data2.examples, baseline=model_v1)
        pushed_v2 = push(model_v2, ev2.blessing, model_name="reviews")

    with run(pipeline="reviews-text", experiment="text-only", store=lin) as r3:
        say("run 3: a second served model, reviews-text, on the same module v1")
        module = resolve_module(module_v1.properties["handle"], store=lin)  # the same module as run 1
        data3 = ingest(raw, max_rows=args.rows)
        xf3 = transform(data3.examples, data3.schema, preprocessing_fn=prep)
        text_model = train(xf3.transformed, xf3.transform_graph, module, features=["text"],
                           learning_rate=0.02, epochs=args.epochs)
        ev3 = evaluate(text_model, data3.examples, slice_features=("cuisine",))
        pushed_text = push(text_model, ev3.blessing, model_name="reviews-text")

    elapsed = time.perf_counter() - t0
    print(f"Recorded 3 runs in {lin.uri} ({elapsed:.0f}s):")
    for r in (r1, r2, r3):
        steps = lin.run_steps(r.name)
        print(f"  {r.name}: " + " -> ".join(f"{e.type}({e.state.lower()})" for e in steps))
    for name, pushed, ev in (("reviews", pushed_v1, ev1), ("reviews", pushed_v2, ev2),
                             ("reviews-text", pushed_text, ev3)):
        acc = ev.evaluation.properties.get("accuracy") or ev.evaluation.custom_properties.get("accuracy")
        print(f"  served {name}:{pushed.properties['pushed_version']} (a{pushed.id}) accuracy {acc}, "
              f"blessed={ev.blessing.properties['blessed']}, path {pushed.uri}")
    print(f"Module {module_v1.properties['handle']} (a{module_v1.id}) feeds: "
          + ", ".join(f"{p.model_name}:{p.version}" for p in lin.impact(module_v1).pushed))
    print("Next, in this folder: `source .venv/bin/activate` (puts `lineage` on this shell's PATH), then "
          "`lineage history reviews`, `lineage provenance reviews`, `lineage impact %s`, `lineage ui`"
          % module_v1.properties["handle"])
    return 0


if __name__ == "__main__":
    from lineage import LineageError

    try:
        status = main()
    except LineageError as exc:  # a refusal or a bad input: say it in one line
        print(f"reviews_pipeline: error: {exc}", file=sys.stderr)
        status = 1
    except SystemExit as exc:  # --help, or a usage error argparse has explained already
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print("reviews_pipeline: interrupted", file=sys.stderr)
        status = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    # TensorFlow can segfault while the interpreter tears down after tf.Transform and Keras
    # have run (tensorflow/tensorflow#59242); everything is recorded and printed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
