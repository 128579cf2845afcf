"""What every benchmark shares with ``bench/run_all``: ``--json FILE`` writes its figures there."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional


def add_json_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", help="also write the figures to this file (bench/run_all reads it)")


def write_json(path: Optional[str], data: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1, default=str))
