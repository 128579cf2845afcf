"""``lineage gc`` on a large store: how long the plan (a dry run) and the removal take.

    .venv/bin/python bench/bench_gc.py [--size 100000] [--json F]

The store is bench_scale.py's cached synthetic one (built if missing), copied into tmpfs. Its
step outputs are recorded under ``/synthetic/runs``, which is given as the artifact root, so they
are gc's to remove; their files do not exist (a synthetic store has none), so the removal measures
lineage's side: the protection walk (the ancestry of every served version, taints, tags, the
window) and marking the artifacts MARKED_FOR_DELETION then DELETED. The anchor is reading every
LIVE artifact once, paged (what any retention pass must do at least).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import build, scratch_copies  # noqa: E402
from lineage import Lineage  # noqa: E402
from lineage.query.retention import live_artifacts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    source = build(args.size)
    with scratch_copies(source, "gc.sqlite") as [path]:
        lin = Lineage.open(str(path), artifact_root="/synthetic/runs")
        t = time.perf_counter()
        live = live_artifacts(lin.store)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        plan, _ = lin.gc(keep_days=0, dry_run=True)
        plan_s = time.perf_counter() - t
        t = time.perf_counter()
        plan2, execution = lin.gc(keep_days=0)
        gc_s = time.perf_counter() - t
        removed = len(json.loads(execution.properties["removed"])) if execution is not None else 0
        out = {"size": args.size, "live_artifacts": len(live), "removable": len(plan.removable),
               "removed": removed, "protected": plan.protected, "read_all_live_s": read_s,
               "dry_run_s": plan_s, "gc_s": gc_s, "dry_run_ratio": plan_s / read_s}
        print(f"{len(live)} LIVE artifacts read in {read_s:.2f} s; dry run {plan_s:.2f} s "
              f"({plan_s / read_s:.2f}x); gc removing {removed} in {gc_s:.2f} s; kept {plan.protected}")
        lin.close()
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
