"""What a step printed and logged, kept for its ``StepLog`` artifact.

From the first step on, ``sys.stdout`` and ``sys.stderr`` are wrapped by a tee that still writes
everything where it went before, and a handler on the root logger sees Python log records (it
never silences a warning Python would have printed). Both look up the capture of the *current context* (a :mod:`contextvars` variable), so
concurrent steps in threads or asyncio tasks each keep only their own output, and code outside
any step is untouched. Output written below Python (a C++ library writing to file descriptor 2,
a child process) is not seen.

The text is capped (``LINEAGE_LOG_MAX_BYTES``, default 1 MiB): the first and the last half of
the cap are kept, the middle is dropped and counted. Which steps keep it: :func:`capture_mode`
(by default the ones that fail: writing a log artifact for every step that prints costs a trivial
step more than 10%, see bench/bench_experiments.py).
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
from collections import deque
from typing import Any, Deque, Dict, Optional

__all__ = ["Capture", "capturing", "capture_mode", "max_bytes", "MODES"]

_current: contextvars.ContextVar[Optional["Capture"]] = contextvars.ContextVar("lineage_capture", default=None)
_lock = threading.Lock()
_handler: Optional["_Handler"] = None


MODES = ("failed", "always", "off")


def capture_mode(chosen: Any = None) -> str:
    """Which steps keep a log: ``failed`` (the default: captured always, kept when the step
    fails), ``always`` (kept whenever the step printed or logged anything) or ``off``. ``chosen``
    is ``@step(capture=...)``: True, False, a mode, or None for ``$LINEAGE_CAPTURE``."""
    if chosen is True:
        return "always"
    if chosen is False:
        return "off"
    raw = str(chosen if chosen is not None else os.environ.get("LINEAGE_CAPTURE", "failed")).strip().lower()
    mode = {"1": "always", "true": "always", "yes": "always", "on": "always", "0": "off", "false": "off",
            "no": "off", "": "failed"}.get(raw, raw)
    if mode not in MODES:
        from ..errors import InvalidInput
        raise InvalidInput(f"capture {raw!r}: use failed (the default), always or off")
    return mode


def max_bytes() -> int:
    raw = os.environ.get("LINEAGE_LOG_MAX_BYTES", "")
    try:
        return max(1024, int(raw)) if raw.strip() else 1 << 20
    except ValueError:
        return 1 << 20


class Capture:
    """The capped text of one step's output, in the order it was written."""

    def __init__(self, cap: Optional[int] = None) -> None:
        self.cap = cap or max_bytes()
        self._head: list = []
        self._head_size = 0
        self._tail: Deque[str] = deque()
        self._tail_size = 0
        self.dropped = 0
        self.counts: Dict[str, int] = {"stdout": 0, "stderr": 0, "log": 0}

    def add(self, text: str, source: str) -> None:
        if not text:
            return
        size = len(text.encode("utf-8", "replace"))
        self.counts[source] += 1 if source == "log" else size
        half = self.cap // 2
        if self._head_size < half:
            self._head.append(text)
            self._head_size += size
            return
        self._tail.append(text)
        self._tail_size += size
        while self._tail_size > half and len(self._tail) > 1:
            gone = self._tail.popleft()
            n = len(gone.encode("utf-8", "replace"))
            self._tail_size -= n
            self.dropped += n
        if self._tail_size > half:  # one piece bigger than the cap: keep its end
            only = self._tail[0].encode("utf-8", "replace")
            self.dropped += len(only) - half
            self._tail[0] = only[-half:].decode("utf-8", "ignore")
            self._tail_size = half

    @property
    def empty(self) -> bool:
        return not self._head and not self._tail

    def text(self) -> str:
        middle = (f"\n[... lineage dropped {self.dropped} bytes here to stay under "
                  f"{self.cap} bytes (LINEAGE_LOG_MAX_BYTES) ...]\n") if self.dropped else ""
        return "".join(self._head) + middle + "".join(self._tail)


class _Tee:
    """Writes through to the stream it wraps; a copy goes to the current context's capture."""

    def __init__(self, inner: Any, source: str) -> None:
        self._inner = inner
        self._source = source

    def write(self, text: str) -> int:
        cap = _current.get()
        if cap is not None:
            cap.add(text, self._source)
        return self._inner.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, isatty, buffer...
        return getattr(self._inner, name)


class _Handler(logging.Handler):
    """Python log records of the current context's step (not lineage's own)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self._last_resort(record)
        cap = _current.get()
        if cap is None or record.name == "lineage" or record.name.startswith("lineage."):
            return
        try:
            cap.add(self.format(record) + "\n", "log")
        except Exception:  # a record that cannot be formatted is not the step's failure
            pass


    def _last_resort(self, record: logging.LogRecord) -> None:
        """Python prints a warning to stderr when no handler at all takes it; this handler must
        not silence that."""
        logger: Optional[logging.Logger] = logging.getLogger(record.name)
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return
            if not logger.propagate:
                break
            logger = logger.parent
        last = logging.lastResort
        if last is not None and record.levelno >= last.level:
            last.handle(record)


def _install() -> None:
    """Wrap the streams and add the handler, once (and again when someone replaced a stream):
    they stay, passing everything through untouched outside a step, so a step pays for neither
    (un)wrapping nor the logging lock."""
    global _handler
    if isinstance(sys.stdout, _Tee) and isinstance(sys.stderr, _Tee) and _handler is not None:
        return
    with _lock:
        if not isinstance(sys.stdout, _Tee):
            sys.stdout = _Tee(sys.stdout, "stdout")  # type: ignore[assignment]
        if not isinstance(sys.stderr, _Tee):
            sys.stderr = _Tee(sys.stderr, "stderr")  # type: ignore[assignment]
        if _handler is None:
            _handler = _Handler()
            logging.getLogger().addHandler(_handler)


class capturing:
    """``with capturing() as cap:`` the current context's output goes (also) to ``cap``."""

    def __init__(self, cap: Optional[Capture] = None) -> None:
        self.capture = cap or Capture()
        self._token: Optional[contextvars.Token] = None

    def __enter__(self) -> Capture:
        _install()
        self._token = _current.set(self.capture)
        return self.capture

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
