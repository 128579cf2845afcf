"""Server-side batching of concurrent requests to one signature of one loaded version."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Any, Callable, Dict, List, Tuple

from .errors import ServingError

__all__ = ["Batcher"]


class Batcher:
    """Server-side batching of concurrent requests to one signature of one loaded version.

    A request waits at most ``timeout`` seconds for others; up to ``max_rows`` rows run as one
    call, whose outputs are split back by each request's row count. Requests whose inputs do not
    stack (other trailing shapes or dtypes) run on their own.
    """

    def __init__(self, run: Callable[[Dict[str, Any]], Dict[str, Any]], max_rows: int, timeout: float) -> None:
        self.run, self.max_rows, self.timeout = run, max_rows, timeout
        self._cond = threading.Condition()
        self._queue: List[Tuple[Dict[str, Any], futures.Future]] = []
        self.calls = 0      # signature calls made (for tests and monitoring)
        self.requests = 0
        threading.Thread(target=self._loop, name="batcher", daemon=True).start()

    def submit(self, inputs: Dict[str, Any]) -> Dict[str, Any]:
        fut: futures.Future = futures.Future()
        with self._cond:
            self._queue.append((inputs, fut))
            self._cond.notify()
        return fut.result()

    @staticmethod
    def _shape_key(inputs: Dict[str, Any]):
        return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))

    def _loop(self) -> None:
        import numpy as np

        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                deadline = time.monotonic() + self.timeout
                while True:
                    rows = sum(len(next(iter(i.values()))) for i, _ in self._queue)
                    left = deadline - time.monotonic()
                    if rows >= self.max_rows or left <= 0:
                        break
                    self._cond.wait(left)
                first = self._shape_key(self._queue[0][0])
                batch: List[Tuple[Dict[str, Any], futures.Future]] = []
                rest: List[Tuple[Dict[str, Any], futures.Future]] = []
                rows = 0
                for item in self._queue:
                    n = len(next(iter(item[0].values())))
                    if self._shape_key(item[0]) == first and (not batch or rows + n <= self.max_rows):
                        batch.append(item)
                        rows += n
                    else:
                        rest.append(item)
                self._queue = rest
            try:
                out = self.run({k: np.concatenate([i[k] for i, _ in batch], axis=0) for k in batch[0][0]})
                self.calls += 1
                self.requests += len(batch)
                start = 0
                for inputs, fut in batch:
                    n = len(next(iter(inputs.values())))
                    fut.set_result({k: v[start:start + n] for k, v in out.items()})
                    start += n
            except BaseException as exc:  # the whole batch failed: say so to every request
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, ServingError)
                                          else ServingError(str(exc)[:500], "INTERNAL", 500))

