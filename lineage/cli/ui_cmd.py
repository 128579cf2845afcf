"""``lineage ui``: the Streamlit lineage explorer (read-only)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import LineageError
from ..uris import parse_store_uri

__all__ = ["register"]


def cmd_ui(args: argparse.Namespace) -> int:
    spec = importlib.util.find_spec("lineage.app.explorer")  # the repository's app/, installed as lineage.app
    if spec is None or spec.origin is None:
        raise LineageError("the explorer is not installed: pip install 'lineage[ui]'")
    app = Path(spec.origin)
    config = parse_store_uri(args.store)
    if config.backend == "sqlite" and not config.path.exists():
        raise LineageError(f"no lineage store at {config.path}: record a run first, or pass --store")
    # lineage.app.serve is Streamlit's command line, after importing what every page needs
    cmd = [sys.executable, "-m", "lineage.app.serve", "run", str(app), "--server.headless", "true",
           "--server.address", args.host, "--server.port", str(args.port),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer", "--"]
    if args.store:  # in the environment, not the command line: `ps` shows argv, passwords included
        os.environ["LINEAGE_STORE"] = args.store
    print(f"lineage explorer on http://{args.host}:{args.port} (store {config.redacted()}; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    # Become the Streamlit server (no child left behind when this process is stopped).
    os.execve(sys.executable, [sys.executable] + cmd[1:], os.environ)
    return 0  # not reached




def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add these commands to the ``lineage`` parser."""
    p = sub.add_parser("ui", parents=[common], help="the Streamlit lineage explorer (read-only)")
    p.add_argument("--port", type=int, default=8502)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.set_defaults(func=cmd_ui)
