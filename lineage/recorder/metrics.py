"""Metric histories: what ``log_metric(name, value, step=None)`` keeps for a step run (the
functions themselves are in :mod:`lineage.recorder.recording`, beside ``annotate``).

Each value is kept with its step (an epoch, a batch, or the next number for that metric when not
given) and the time it was logged. When the step ends (COMPLETE or FAILED) the series becomes
the step's ``Metrics`` output (``lineage:metrics``): one columnar JSON file::

    {"metric": ["loss", "loss"], "step": [1, 2], "value": [0.69, 0.41], "time": [1795..., ...]}

Values are written as Python writes floats, so they read back exactly. The last value of each
metric is also a custom property of that artifact and of the step's ``Model`` outputs, so
``find`` and ``diff`` see it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..errors import InvalidInput

__all__ = ["MetricLog"]


class MetricLog:
    """The values one step logged, in order."""

    def __init__(self) -> None:
        self.points: List[Tuple[str, int, float, float]] = []
        self._next: Dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, name: Any, value: Any, step: Any = None) -> None:
        self.check(name, value, step)
        with self._lock:
            at = int(step) if step is not None else self._next.get(name, 0)
            self._next[name] = at + 1
            self.points.append((name, at, float(value), round(time.time(), 6)))

    @staticmethod
    def check(name: Any, value: Any, step: Any = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"log_metric: a metric's name is a non-empty string, not {name!r}")
        if isinstance(value, bool) or not _is_number(value):
            raise InvalidInput(f"log_metric: {name!r} takes a number, not {value!r} "
                               f"({type(value).__name__}); record other values with annotate()")
        if step is not None and (isinstance(step, bool) or not _is_whole(step)):
            raise InvalidInput(f"log_metric: step of {name!r} is a whole number (an epoch, a batch), "
                               f"not {step!r}")

    def __bool__(self) -> bool:
        return bool(self.points)

    def last(self) -> Dict[str, float]:
        """The last value logged of each metric (by the order logged, not by step)."""
        out: Dict[str, float] = {}
        for name, _, value, _ in self.points:
            out[name] = value
        return out

    def names(self) -> List[str]:
        return list(dict.fromkeys(p[0] for p in self.points))

    def write(self, path: Path) -> None:
        cols = {"metric": [p[0] for p in self.points], "step": [p[1] for p in self.points],
                "value": [p[2] for p in self.points], "time": [p[3] for p in self.points]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cols, allow_nan=True))


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


def _is_whole(value: Any) -> bool:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes)) and math.isfinite(f) and f.is_integer()
