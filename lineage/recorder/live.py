"""Live OpenLineage events as each ``@step`` runs: START when the body begins, COMPLETE, FAIL (with
an error facet) or ABORT (Ctrl-C, SIGTERM) when it ends, each with a ParentRunFacet naming the
pipeline run, and the step's datasets (version = fingerprint; an output's size and file count).

On when OpenLineage's own client is configured, the way that client is configured: a
``openlineage.yml`` (``$OPENLINEAGE_CONFIG``, the working directory, ``~/.openlineage/``) or
``$OPENLINEAGE_URL``; off otherwise (``LINEAGE_OPENLINEAGE=0`` turns it off either way). The
client's own transports send (http, file, console, kafka). A step only puts a small tuple on a
queue; a background thread hands it to a sender process (started on the first event), which
builds the events and sends them: their Python work never competes for the steps' GIL, and a slow
or dead endpoint never slows or fails a step. Events the endpoint refused or never got are counted in
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
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..objects import is_remote
from ..uris import DEFAULT_HOME

__all__ = ["enabled", "step_started", "step_ended", "failures", "FAILURES_FILE", "flush", "child_main"]

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


class _Child:
    """The process that builds and sends the events (:func:`child_main`): its
    Python work never competes with the steps' for this process's GIL. Fed JSON lines on stdin;
    answers a flush marker on stdout once everything before it is sent."""

    def __init__(self, signature: Tuple[Optional[str], ...]) -> None:
        import subprocess
        import sys

        url, config, key, cwd = signature
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_API_KEY")}
        env.update({k: v for k, v in (("OPENLINEAGE_URL", url), ("OPENLINEAGE_CONFIG", config),
                                      ("OPENLINEAGE_API_KEY", key)) if v})
        self.signature = signature
        self.pid = os.getpid()    # the parent: a forked copy of this process starts its own
        # lineage importable as this process has it (a checkout on sys.path, not installed, say)
        here = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # quiet: what it could not deliver is counted in openlineage.json, as before
        self.proc = subprocess.Popen([sys.executable, "-c", "from lineage.recorder import live; live.child_main()"],
                                     cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.flushes = 0

    def send(self, item: Tuple[Any, ...]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(["event", *item]) + "\n")

    def flush(self) -> bool:
        """Block until the child has sent everything written so far; whether it said so."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.flushes += 1
        self.proc.stdin.write(json.dumps(["flush", self.flushes]) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() == f"flushed {self.flushes}"

    def close(self, wait: float) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()   # the child sends what it has, then exits
            self.proc.wait(wait)
        except Exception:
            self.proc.kill()


class _Sender:
    """The queue, and the one thread that hands events to the child process."""

    def __init__(self) -> None:
        self.queue: "queue.Queue[Tuple[Any, ...]]" = queue.Queue(maxsize=10_000)
        self.thread: Optional[threading.Thread] = None
        self.child: Optional[_Child] = None
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
                if isinstance(item[0], threading.Event):   # a flush: everything before it sent
                    if self.child is not None and self.child.pid == os.getpid() and self.child.proc.poll() is None:
                        try:
                            self.child.flush()
                        except (OSError, ValueError):
                            pass
                    item[0].set()
                else:
                    self._send(item)
            finally:
                self.queue.task_done()

    def _send(self, item: Tuple[Any, ...]) -> None:
        signature, event = item[0], item[1:]
        try:
            child = self.child
            if child is None or child.signature != signature or child.pid != os.getpid() \
                    or child.proc.poll() is not None:
                if child is not None and child.pid == os.getpid():
                    child.close(5)
                child = self.child = _Child(signature)
            child.send(event)
        except Exception as exc:   # never reaches a step
            _count_failure(f"{type(exc).__name__}: {str(exc)[:300]}")
            log.info("OpenLineage event not handed to the sender process: %s", exc)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event is sent (at most ``timeout`` seconds); whether it was."""
        if self.thread is None or not self.thread.is_alive():
            return True
        done = threading.Event()
        try:
            self.queue.put((done,), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def pending(self) -> int:
        return self.queue.unfinished_tasks


_SENDER = _Sender()


def flush(timeout: float = 5.0) -> bool:
    """Send what is queued (at most ``timeout`` seconds); whether everything was sent."""
    return _SENDER.flush(timeout)


@atexit.register
def _at_exit() -> None:
    if _SENDER.thread is None:
        return
    try:
        wait = float(os.environ.get("LINEAGE_OPENLINEAGE_FLUSH") or 5)
    except ValueError:
        wait = 5.0
    if not _SENDER.flush(wait):
        _count_failure(f"{_SENDER.pending()} event(s) still queued when the process exited")
    child = _SENDER.child
    if child is not None and child.pid == os.getpid():
        child.close(1)


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


def child_main() -> None:
    """The sender process: events in on stdin, sent through OpenLineage's own client."""
    import sys

    from openlineage.client import OpenLineageClient

    client = None
    for line in sys.stdin:
        try:
            kind, *rest = json.loads(line)
        except ValueError:
            continue
        if kind == "flush":
            sys.stdout.write(f"flushed {rest[0]}\n")
            sys.stdout.flush()
            continue
        try:
            if client is None:
                client = OpenLineageClient()
            state, when, run_id, job, parent, inputs, outputs, error = rest
            client.emit(_event(state, when, run_id, job, tuple(parent) if parent else None,
                               [tuple(i) for i in inputs], [tuple(o) for o in outputs], error))
        except Exception as exc:
            _count_failure(f"{type(exc).__name__}: {str(exc)[:300]}")
            log.info("OpenLineage event not delivered: %s", exc)
