"""Live OpenLineage events as each ``@step`` runs: START when the body begins, COMPLETE, FAIL (with
an error facet) or ABORT (Ctrl-C, SIGTERM) when it ends, each with a ParentRunFacet naming the
pipeline run, and the step's datasets (version = fingerprint; an output's size and file count).

On when OpenLineage's own client is configured, the way that client is configured: a
``openlineage.yml`` (``$OPENLINEAGE_CONFIG``, the working directory, ``~/.openlineage/``) or
``$OPENLINEAGE_URL``; off otherwise (``LINEAGE_OPENLINEAGE=0`` turns it off either way). The
client's own transports send (http, file, console, kafka). A step only puts a small tuple on a
queue; one background thread builds the events and sends them, so a slow or dead endpoint never
slows or fails a step. Events the endpoint refused or never got are counted in
``./.lineage/openlineage.json`` (beside the default store) and reported by ``lineage doctor``; at exit the queue is
flushed for up to ``LINEAGE_OPENLINEAGE_FLUSH`` seconds (5).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import logging
import os
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..objects import is_remote
from ..uris import DEFAULT_HOME

__all__ = ["enabled", "step_started", "step_ended", "failures", "FAILURES_FILE", "flush"]

log = logging.getLogger("lineage")

PRODUCER = "https://github.com/lineage/lineage"
FAILURES_FILE = "openlineage.json"
_NAMESPACE_UUID = uuid.UUID("0f6c5a43-5b1e-4c1e-9a77-6c696e656167")


def _config_present() -> bool:
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    return any(p.is_file() for p in (Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml"))


def _signature() -> Tuple[Optional[str], ...]:
    return (os.environ.get("OPENLINEAGE_URL"), os.environ.get("OPENLINEAGE_CONFIG"),
            os.environ.get("OPENLINEAGE_API_KEY"), str(Path.cwd()))


def enabled() -> bool:
    """Whether steps send OpenLineage events (an OpenLineage client configuration is present)."""
    flag = os.environ.get("LINEAGE_OPENLINEAGE", "").strip().lower()
    if flag in ("0", "false", "off", "no"):
        return False
    return _config_present()


def _home() -> Path:
    return Path(DEFAULT_HOME).absolute()


class _Sender:
    """The queue and the one thread that builds and sends events."""

    def __init__(self) -> None:
        self.queue: "queue.Queue[Tuple[Any, ...]]" = queue.Queue(maxsize=10_000)
        self.thread: Optional[threading.Thread] = None
        self.client: Any = None   # (the configuration it was made for, OpenLineageClient)
        self.lock = threading.Lock()

    def put(self, item: Tuple[Any, ...]) -> None:
        item = (_signature(),) + item   # where it goes: the configuration when the step ran
        with self.lock:
            if self.thread is None or not self.thread.is_alive():   # first use, or after a fork
                self.thread = threading.Thread(target=self._loop, name="lineage-openlineage", daemon=True)
                self.thread.start()
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            _count_failure("the queue was full (the endpoint is too slow)")

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            try:
                self._send(item)
            finally:
                self.queue.task_done()

    def _send(self, item: Tuple[Any, ...]) -> None:
        signature, event = item[0], item[1:]
        try:
            if self.client is None or self.client[0] != signature:
                from openlineage.client import OpenLineageClient
                self.client = (signature, OpenLineageClient())
            self.client[1].emit(_event(*event))
        except Exception as exc:   # never reaches a step
            _count_failure(f"{type(exc).__name__}: {str(exc)[:300]}")
            log.info("OpenLineage event not delivered: %s", exc)

    def flush(self, timeout: float) -> bool:
        """Wait until the queue is empty (at most ``timeout`` seconds); whether it emptied."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.queue.unfinished_tasks


_SENDER = _Sender()


def flush(timeout: float = 5.0) -> bool:
    """Send what is queued (at most ``timeout`` seconds); whether everything was handed over."""
    return _SENDER.flush(timeout)


@atexit.register
def _at_exit() -> None:
    if _SENDER.thread is None or not _SENDER.queue.unfinished_tasks:
        return
    try:
        wait = float(os.environ.get("LINEAGE_OPENLINEAGE_FLUSH") or 5)
    except ValueError:
        wait = 5.0
    if not _SENDER.flush(wait):
        _count_failure(f"{_SENDER.queue.unfinished_tasks} event(s) still queued when the process exited")


def _count_failure(why: str) -> None:
    path = _home() / FAILURES_FILE
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    data = {"undelivered": int(data.get("undelivered", 0)) + 1, "last_error": why,
            "last_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def failures(home: Optional[Path] = None) -> Dict[str, Any]:
    """What ``./.lineage/openlineage.json`` says about undelivered events ({} when none)."""
    path = (home or _home()) / FAILURES_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------- from a step

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def _dataset(uri: str, fingerprint: Optional[str], size: Any, files: Any) -> Tuple[str, str, Optional[str], Any, Any]:
    """(namespace, name, version, size, file count), named as OpenLineage's naming spec says."""
    text = str(uri)
    if is_remote(text):
        scheme, rest = text.split("://", 1)
        bucket, _, key = rest.partition("/")
        return f"{scheme}://{bucket}", key, fingerprint, size, files
    path = text[len("file://"):] if text.startswith("file://") else text
    return "file", str(Path(path).absolute()), fingerprint, size, files


def parent_of(run: Any, store_uri: str) -> Optional[Tuple[str, str, str]]:
    """(run id, job namespace, job name) of a pipeline run: its id is stable for the run."""
    if run is None:
        return None
    return str(uuid.uuid5(_NAMESPACE_UUID, f"{store_uri}#{run.name}")), _job_namespace(), run.pipeline


def _job_namespace() -> str:
    return os.environ.get("OPENLINEAGE_NAMESPACE") or "lineage"


def step_started(run_id: str, job: str, parent: Optional[Tuple[str, str, str]],
                 inputs: Sequence[Tuple[str, Optional[str], Any, Any]]) -> None:
    """Queue a START event (cheap: the event is built on the sender's thread)."""
    _SENDER.put(("START", _now(), run_id, job, parent, [_dataset(*i) for i in inputs], [], None))


def step_ended(state: str, run_id: str, job: str, parent: Optional[Tuple[str, str, str]],
               inputs: Sequence[Tuple[str, Optional[str], Any, Any]],
               outputs: Sequence[Tuple[str, Optional[str], Any, Any]], error: Optional[BaseException] = None) -> None:
    """Queue COMPLETE, FAIL or ABORT."""
    err = (type(error).__name__ + ": " + str(error)[:2000]) if error is not None else None
    _SENDER.put((state, _now(), run_id, job, parent, [_dataset(*i) for i in inputs],
                 [_dataset(*o) for o in outputs], err))


def _event(state: str, when: str, run_id: str, job: str, parent: Optional[Tuple[str, str, str]],
           inputs: List[Tuple[str, str, Optional[str], Any, Any]], outputs: List[Tuple[str, str, Optional[str], Any, Any]],
           error: Optional[str]) -> Any:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (dataset_version_dataset, error_message_run,
                                             output_statistics_output_dataset, parent_run)

    run_facets: Dict[str, Any] = {}
    if parent is not None:
        pid, pns, pname = parent
        run_facets["parent"] = parent_run.ParentRunFacet(run=parent_run.Run(runId=pid),
                                                         job=parent_run.Job(namespace=pns, name=pname),
                                                         producer=PRODUCER)
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python", producer=PRODUCER)

    def facets(version: Optional[str]) -> Dict[str, Any]:
        return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version, producer=PRODUCER)} \
            if version else {}

    outs = []
    for ns, name, version, size, files in outputs:
        stats: Dict[str, Any] = {}
        if size is not None or files is not None:
            stats["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                size=int(size) if size is not None else None, fileCount=int(files) if files is not None else None,
                producer=PRODUCER)
        outs.append(OutputDataset(namespace=ns, name=name, facets=facets(version), outputFacets=stats))
    return RunEvent(eventType=getattr(RunState, state), eventTime=when, producer=PRODUCER,
                    run=Run(runId=run_id, facets=run_facets), job=Job(namespace=_job_namespace(), name=job),
                    inputs=[InputDataset(namespace=ns, name=name, facets=facets(v)) for ns, name, v, _, _ in inputs],
                    outputs=outs)
