"""What ``lineage tune``'s indexes change: the same queries on a synthetic store and on a tuned
copy of it, side by side in one run (rounds interleaved, the same targets on both sides).

    .venv/bin/python bench/bench_tune.py [--size 100000] [--repeat 41] [--json F]

The store is bench_scale.py's cached synthetic one (built if missing: about 1 s per 1,000
executions), copied twice into tmpfs; ``Lineage.tune()`` runs on one copy. Measured: provenance
of a random served version, the contexts of the hot dataset (read by 1,000 runs) and of a random
step, and the impact of the hot dataset. Every answer is compared between the two sides.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import build, scratch_copies, stats  # noqa: E402
from lineage import Lineage  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=41)
    ap.add_argument("--json")
    args = ap.parse_args()
    source = build(args.size)
    with scratch_copies(source, "plain.sqlite", "tuned.sqlite") as [plain, tuned]:
        t = time.perf_counter()
        names, _ = Lineage.open(str(tuned)).tune()
        took_tune = time.perf_counter() - t
        print(f"tuned a copy of {source.name} in {took_tune:.1f} s ({', '.join(names)})", file=sys.stderr)
        with sqlite3.connect(f"file:{plain}?mode=ro", uri=True) as db:
            pushed = [i for (i,) in db.execute(
                "SELECT a.id FROM Artifact a JOIN Type t ON t.id = a.type_id WHERE t.name = 'PushedModel'")]
            hot = db.execute("SELECT a.id FROM Artifact a JOIN Type t ON t.id = a.type_id WHERE t.name = 'Dataset' "
                             "AND a.uri LIKE '/synthetic/data/%' ORDER BY a.id LIMIT 1").fetchone()[0]
            (max_exec,) = db.execute("SELECT MAX(id) FROM Execution").fetchone()
        sides = {"plain": Lineage.open(str(plain), readonly=True), "tuned": Lineage.open(str(tuned), readonly=True)}
        rng = random.Random(11)
        queries = {
            "provenance of a served version": lambda lin, x: sorted(a.id for a in lin.provenance(x).graph.artifacts()),
            "contexts of the hot dataset": lambda lin, x: sorted(c.id for c in lin.contexts(lin.artifact(hot))),
            "contexts of a step": lambda lin, x: sorted(c.id for c in lin.contexts(lin.execution(x))),
            "impact of the hot dataset": lambda lin, x: sorted(m.id for m in lin.impact(hot).models),
        }
        times = {q: {s: [] for s in sides} for q in queries}
        for lin in sides.values():   # warm both
            queries["provenance of a served version"](lin, pushed[0])
        for r in range(args.repeat):
            for q, fn in queries.items():
                if q == "impact of the hot dataset" and r % 5:
                    continue
                x = rng.choice(pushed) if q.startswith("provenance") else rng.randint(1, max_exec)
                answers = {}
                for name in (list(sides) if r % 2 else list(sides)[::-1]):
                    t = time.perf_counter()
                    answers[name] = fn(sides[name], x)
                    times[q][name].append(time.perf_counter() - t)
                assert answers["plain"] == answers["tuned"], (q, x)
        out = {"size": args.size, "store": source.name, "tune_s": took_tune, "queries": {}}
        for q in queries:
            p, tu = stats(times[q]["plain"]), stats(times[q]["tuned"])
            out["queries"][q] = {"plain": p, "tuned": tu, "p50_ratio": tu["p50_ms"] / p["p50_ms"],
                                 "p95_ratio": tu["p95_ms"] / p["p95_ms"]}
            print(f"{q:34s} plain p50 {p['p50_ms']:8.2f} ms p95 {p['p95_ms']:8.2f} ms | tuned p50 "
                  f"{tu['p50_ms']:8.2f} ms p95 {tu['p95_ms']:8.2f} ms | {tu['p50_ms'] / p['p50_ms']:.2f}x")
        for lin in sides.values():
            lin.close()
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
