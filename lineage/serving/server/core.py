"""The model server's core: the config, background loading with atomic swaps, routing a
request to a version (TF Serving's rules), and calling a signature."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...layout import version_path
from ..config import read_config, versions_on_disk
from ..states import ModelVersionState, state_name
from .batching import Batcher
from .errors import ServingError, not_found
from .metrics import Metrics, read_monitoring_config
from .remote import RemoteCalls, RemotePart
from .savedmodel import check_inputs, load_saved_model

log = logging.getLogger("lineage.serving")

__all__ = ["ModelServer", "Version", "ModelState", "serve_forever"]

START, LOADING, AVAILABLE, END = (ModelVersionState.START, ModelVersionState.LOADING,
                                  ModelVersionState.AVAILABLE, ModelVersionState.END)


@dataclass
class Version:
    number: int
    path: str
    state: int = START
    error: str = ""
    error_code: str = "OK"    # a gRPC status name, when loading failed
    model: Any = None         # the loaded SavedModel (savedmodel.LoadedModel)

    @property
    def signature_defs(self) -> Any:
        """The version's SignatureDef map (with ``__saved_model_init_op``), as TF Serving reports it."""
        return self.model.signature_defs if self.model is not None else {}


@dataclass(eq=False)
class ModelState:
    name: str
    base_path: str
    policy: Tuple[str, Tuple[int, ...]]  # ("latest", (n,)) | ("all", ()) | ("specific", (v, ...))
    labels: Dict[str, int]
    versions: Dict[int, Version] = field(default_factory=dict)


def policy_of(entry) -> Tuple[str, Tuple[int, ...]]:
    p = entry.model_version_policy
    kind = p.WhichOneof("policy_choice")
    if kind == "specific":
        return "specific", tuple(sorted(int(v) for v in p.specific.versions))
    if kind == "all":
        return "all", ()
    n = p.latest.num_versions if kind == "latest" and p.latest.num_versions else 1
    return "latest", (n,)


def wanted_versions(policy: Tuple[str, Tuple[int, ...]], disk: List[int]) -> List[int]:
    kind, args = policy
    if kind == "specific":
        return [v for v in args if v in disk] + [v for v in args if v not in disk]
    if kind == "all":
        return disk
    return disk[-args[0]:] if disk else []


class ModelServer:
    """Serve the models in ``config_path`` on gRPC ``grpc_port`` and REST ``rest_port``.

    ``start()`` returns once both ports listen and the first load pass is done; ``stop()`` shuts
    down. Ports 0 pick free ports (see ``grpc_port``/``rest_port`` after start).
    """

    def __init__(self, config_path: str, *, grpc_port: int = 8500, rest_port: int = 8501,
                 host: str = "127.0.0.1", poll_seconds: float = 1.0,
                 max_request_bytes: int = 16 << 20, workers: int = 8, batch_size: int = 0,
                 batch_timeout_ms: float = 2.0, max_tensor_bytes: int = 256 << 20,
                 max_connections: int = 100, idle_timeout: float = 30.0,
                 on_state: Optional[Callable[[str, int, str, str], None]] = None,
                 grpc_channel_arguments: str = "", grpc_socket_path: str = "",
                 monitoring_config_file: Optional[str] = None, prediction_log_queue: int = 10_000,
                 prediction_log_max_bytes: int = 64 << 20, prediction_log_max_seconds: float = 300.0,
                 on_log_closed: Optional[Callable[[Any], None]] = None,
                 remote_servers: Optional[Dict[str, str]] = None,
                 on_remote: Optional[Callable[[str, int, str, int, str], None]] = None) -> None:
        self.config_path = str(config_path)
        self.host = host
        self.grpc_port = grpc_port
        self.rest_port = rest_port
        self.poll_seconds = poll_seconds
        self.max_request_bytes = max_request_bytes
        self.max_tensor_bytes = max_tensor_bytes  # a request tensor's expanded size
        self.max_connections = max_connections    # REST connections open at once
        self.idle_timeout = idle_timeout          # seconds before an idle REST connection is closed
        self.on_state = on_state  # (model, version, LOADING|AVAILABLE|UNLOADING|END, error) per change
        # TF Serving's --grpc_channel_arguments ("k=v,k=v"), --grpc_socket_path, --monitoring_config_file
        self.grpc_options = parse_channel_arguments(grpc_channel_arguments)
        self.grpc_socket_path = grpc_socket_path
        self.metrics = Metrics()
        self.prometheus_path = read_monitoring_config(monitoring_config_file) if monitoring_config_file else None
        self.workers = workers
        self.batch_size = batch_size          # 0 or 1: no batching (the default)
        self.batch_timeout_ms = batch_timeout_ms
        self._batchers: Dict[tuple, Batcher] = {}
        # heads' remote parts: module servers' addresses overriding their declarations
        # (MODEL -> HOST:PORT), and who answered whom (reported through on_remote)
        self.remote_calls = RemoteCalls(remote_servers, on_remote)
        self._models: Dict[str, ModelState] = {}
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._config = None
        self._config_override = None  # set by HandleReloadConfigRequest, until the next poll
        self._removed: Dict[str, ModelState] = {}  # models a reload removed: their versions stay listed, END
        self._loader: Optional[threading.Thread] = None
        self._grpc = None
        self._http: Any = None  # the REST server (rest.start_rest)
        self.tf: Any = None  # the tensorflow module, once started
        # request logging (a model's logging_config): predlog.RequestLogger, once started
        self.request_log: Any = None
        self._remote_logged: Dict[Tuple[str, int], Dict[Tuple[str, int], int]] = {}
        self._on_log_closed = on_log_closed
        self._log_options: Dict[str, Any] = dict(queue_size=prediction_log_queue, max_bytes=prediction_log_max_bytes,
                                 max_seconds=prediction_log_max_seconds,
                                 on_closed=self._log_closed if on_log_closed is not None else None)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "ModelServer":
        """Bind both ports (a port in use fails here, before any model loads or any state is
        reported), load what the config asks for, then serve."""
        from .tfenv import tf  # TF_USE_LEGACY_KERAS, quiet logs

        self.tf = tf()
        from .grpc_api import start_grpc
        from .predlog import RequestLogger
        from .rest import start_rest

        grpc_server = self._grpc = start_grpc(self, start=False)
        try:
            self._http = start_rest(self, start=False)
            self.request_log = RequestLogger(self.tf, **self._log_options)
            self._reload(force=True)
        except BaseException:
            grpc_server.stop(None)
            if self._http is not None:
                self._http.close()
            if self.request_log is not None:
                self.request_log.stop()
            raise
        self._loader = threading.Thread(target=self._loop, name="model-loader", daemon=True)
        self._loader.start()
        grpc_server.start()
        self._http.start()
        log.info("serving %s: gRPC %s:%s, REST %s:%s", self.config_path, self.host, self.grpc_port,
                 self.host, self.rest_port)
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop as a supervisor expects on SIGTERM: take no new request, let the ones being
        answered finish (up to ``grace`` seconds), unload every version (each reported UNLOADING
        and END), write what was sampled and close every request log file."""
        t0 = time.monotonic()
        self._stop.set()
        self._wake.set()
        done = self._grpc.stop(grace) if self._grpc is not None else None   # refuses new RPCs at once
        if self._http is not None:
            self._http.close(grace)
        t_rest = time.monotonic()
        if done is not None:
            done.wait(grace + 1)
        t_grpc = time.monotonic()
        with self._lock:
            models = list(self._models.values())
        for state in models:   # as TF Serving does on shutdown: every version unloads
            self._retire(state, keep=())
        if self.request_log is not None:   # what was sampled is written, every log file closed
            self.request_log.stop()
        if self._loader is not None:
            self._loader.join(10)
        log.info("stopped: REST drained in %.3fs, gRPC in %.3fs, versions unloaded and logs closed in %.3fs",
                 t_rest - t0, t_grpc - t0, time.monotonic() - t_grpc)

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _loop(self) -> None:
        last_error = ""
        while not self._stop.is_set():
            # 0: no polling (TF Serving's rule); reloads come through HandleReloadConfigRequest
            self._wake.wait(self.poll_seconds if self.poll_seconds > 0 else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._reload()
                last_error = ""
            except Exception as exc:  # a bad config file must not kill the loader; say so once
                if str(exc) != last_error:
                    log.error("model config %s not adopted: %s", self.config_path, exc)
                last_error = str(exc)

    # ------------------------------------------------------------------- config

    def reload_config(self, config) -> None:
        """Adopt ``config`` now (what HandleReloadConfigRequest does) and load synchronously.
        Raises ``ServingError`` for a config TF Serving refuses; what serves is then unchanged."""
        check_config(config)
        with self._lock:
            self._config_override = config
        self._reload(force=True)

    def _current_config(self, force: bool):
        """The config to adopt: a poll (``force`` False) re-reads the file and applies it, as TF
        Serving does on every ``--model_config_file_poll_wait_seconds`` (so a config sent by
        HandleReloadConfigRequest lasts until the next poll); a start reads the file; a reload
        request brings its own config."""
        if force and self._config_override is not None:
            return self._config_override
        self._config_override = None
        return read_config(self.config_path)

    def _reload(self, force: bool = False) -> None:
        with self._reload_lock:  # the poller and a ReloadConfig request never interleave
            self._reload_locked(force)

    def _reload_locked(self, force: bool) -> None:
        config = self._current_config(force)
        check_config(config)   # before anything is unloaded: a bad config changes nothing
        self._config = config
        entries = {e.name: e for e in config.model_config_list.config}
        with self._lock:
            models = dict(self._models)
        old_labels = {name: dict(state.labels) for name, state in models.items()}
        for name in list(models):
            if name not in entries:  # removed from the config: unload everything
                gone = models.pop(name)
                self._retire(gone, keep=())
                self._removed[name] = gone   # TF Serving's ServableStateMonitor keeps them, END
        for name, entry in entries.items():
            state = models.get(name)
            policy, labels = policy_of(entry), {k: int(v) for k, v in entry.version_labels.items()}
            if state is None or state.base_path != entry.base_path:
                state = ModelState(name, entry.base_path, policy, labels)
            state.policy, state.labels = policy, labels
            models[name] = state
            wanted = wanted_versions(policy, versions_on_disk(entry.base_path, saved_model_only=False))
            for v in wanted:
                cur = state.versions.get(v)
                # Load what is new, or was unloaded earlier; retry a failed load only when asked.
                if cur is None or (cur.state == END and (not cur.error or force)):
                    self._load(state, v)
            available = [v for v in wanted if state.versions.get(v) and state.versions[v].state == AVAILABLE]
            # Unload what left the policy, but never leave a model with nothing to serve.
            if available or not wanted:
                self._retire(state, keep=set(wanted))
        refused = _unavailable_labels(models)
        for state in refused:   # TF Serving keeps a model's old labels when new ones cannot apply
            state.labels = old_labels.get(state.name, {})
        with self._lock:
            self._models = models
            for name in entries:
                self._removed.pop(name, None)
        if self.request_log is not None:
            from .predlog import log_config_of

            self.request_log.configure({n: c for n, c in ((n, log_config_of(e)) for n, e in entries.items())
                                        if c is not None})
        if refused:
            raise ServingError(next(iter(refused.values())), "FAILED_PRECONDITION", 400)

    def _load(self, state: ModelState, number: int) -> None:
        path = str(version_path(state.base_path, number))
        version = Version(number, path, LOADING)
        with self._lock:
            state.versions = {**state.versions, number: version}
        self._report(state.name, number, "LOADING")
        try:
            head = (state.name, number)
            new = Version(number, path, AVAILABLE, model=load_saved_model(
                self.tf, path, remote=lambda spec: RemotePart(spec, self.remote_calls, head)))
            log.info("loaded %s version %s", state.name, number)
        except ServingError as exc:  # no SavedModel in the folder
            new = Version(number, path, END, error=str(exc), error_code=exc.code)
        except Exception as exc:  # a corrupt or unreadable SavedModel
            new = Version(number, path, END, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                          error_code="INTERNAL")
        if new.error:
            log.warning("could not load %s version %s: %s", state.name, number, new.error)
        with self._lock:
            state.versions = {**state.versions, number: new}  # the swap: one assignment
        self._report(state.name, number, state_name(new.state), new.error)

    def _retire(self, state: ModelState, keep) -> None:
        with self._lock:
            gone = [v for v in state.versions if v not in keep and state.versions[v].state != END]
            if not gone:
                return
            state.versions = {v: (Version(v, s.path, END, error=s.error, error_code=s.error_code) if v in gone else s)
                              for v, s in state.versions.items()}
        for v in gone:
            log.info("unloaded %s version %s", state.name, v)
            self._report(state.name, v, "UNLOADING")
            self._report(state.name, v, "END")

    def _report(self, name: str, version: int, state: str, error: str = "") -> None:
        if self.on_state is not None:
            try:
                self.on_state(name, version, state, error)
            except Exception:  # observing must never break serving
                log.warning("could not report %s version %s %s", name, version, state, exc_info=True)

    # ------------------------------------------------------------------ routing

    def status(self, name: str, version: Optional[int] = None) -> List[Version]:
        with self._lock:
            state = self._models.get(name) or self._removed.get(name)
        if state is None:
            raise not_found(f"Could not find any versions of model {name}")
        versions = state.versions
        if version is not None:
            if version not in versions:
                raise not_found(f"Could not find version {version} of model {name}")
            return [versions[version]]
        return [versions[v] for v in sorted(versions)]

    def resolve(self, name: str, version: Optional[int] = None, label: Optional[str] = None) -> Version:
        with self._lock:
            state = self._models.get(name)
        if state is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        if label is not None:
            if label not in state.labels:
                raise ServingError(f"Unrecognized servable version label: {label}", "INVALID_ARGUMENT", 400)
            version = state.labels[label]
        versions = state.versions
        if version is not None:
            v = versions.get(version)
            if v is not None and v.state == END and v.error:
                raise _failed_load(name, v)
            if v is None or v.state != AVAILABLE:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return v
        live = [v for v in versions.values() if v.state == AVAILABLE]
        if not live:
            failed = [v for v in versions.values() if v.state == END and v.error]
            if failed:   # every version it was asked to serve failed to load (TF Serving's _TestBadModel)
                raise _failed_load(name, max(failed, key=lambda v: v.number))
            raise not_found(f"Servable not found for request: Latest({name})")
        return max(live, key=lambda v: v.number)

    @staticmethod
    def signature(version: Version, name: str = "") -> Tuple[str, Any]:
        """``(key, SignatureDef)`` of signature ``name`` (``serving_default`` when empty)."""
        return name or "serving_default", version.model.signature(name)

    def run(self, version: Version, signature_name: str, inputs: Dict[str, Any],
            outputs: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """Call a signature with numpy or JSON-like inputs (each turned into the dtype the
        signature declares, its shape as sent); returns numpy outputs (``outputs`` only, if given)."""
        import numpy as np

        key, sd = self.signature(version, signature_name)
        check_inputs(sd, inputs)
        feeds = {}
        for k, value in inputs.items():
            dtype = version.model.numpy_dtype(sd.inputs[k])
            try:
                feeds[k] = (value if isinstance(value, np.ndarray) and value.dtype == dtype
                            else np.asarray(_utf8(value) if dtype is object else value, dtype=dtype))
            except (TypeError, ValueError, OverflowError) as exc:
                raise ServingError(_type_error(value, dtype) or f"input {k!r} cannot be a {_dtype_name(dtype)} "
                                   f"tensor: {str(exc).splitlines()[0][:200]}") from None
            if dtype is object and feeds[k].ndim == 0 and not isinstance(feeds[k].item(), bytes):
                raise ServingError(f"input {k!r} must be a string tensor")
        if self.batch_size > 1 and feeds and all(t.ndim >= 1 for t in feeds.values()):
            return self._batcher(version, key, tuple(sorted(outputs or ()))).submit(feeds)
        return version.model.run(key, feeds, outputs)

    def _batcher(self, version: Version, key: str, outputs: Tuple[str, ...]) -> "Batcher":
        with self._lock:
            b = self._batchers.get((id(version.model), key, outputs))
            if b is None:
                model = version.model
                b = Batcher(lambda feeds: model.run(key, feeds, outputs or None), self.batch_size,
                            self.batch_timeout_ms / 1000.0)
                self._batchers[(id(version.model), key, outputs)] = b
            return b

    # ---------------------------------------------------------------- request log

    def _log_closed(self, closed: Any) -> None:
        """A closed request log file, with a head's remote calls answered since its last file
        (by module version), then handed on."""
        key = (closed.model, closed.version)
        counts = self.remote_calls.counts(*key)
        if counts:
            before = self._remote_logged.get(key, {})
            closed = dataclasses.replace(closed, remote={
                f"{m}:{v}": n - before.get((m, v), 0) for (m, v), n in sorted(counts.items()) if n > before.get((m, v), 0)})
            self._remote_logged[key] = counts
        if self._on_log_closed is not None:
            self._on_log_closed(closed)

    _LOG_FIELDS = {"Predict": "predict_log", "Classify": "classify_log", "Regress": "regress_log",
                   "MultiInference": "multi_inference_log"}

    def log_grpc(self, api: str, request: Any, response: Any) -> None:
        """A sample of an answered gRPC request goes to its model's request log (if it has one)."""
        if self.request_log is None or api not in self._LOG_FIELDS:
            return
        multi = api == "MultiInference"
        spec = request.tasks[0].model_spec if multi else request.model_spec
        if self.request_log.wants(spec.name) is None:
            return
        answered = response.results[0].model_spec if multi else response.model_spec
        self.request_log.offer(spec.name, answered.version.value, self._LOG_FIELDS[api],
                               lambda: (request, response))

    def log_rest(self, api: str, name: str, version: int, build: Callable[[], Tuple[Any, Any]]) -> None:
        """A sample of an answered REST request: ``build()`` makes the gRPC request and response
        it stands for (called on the log writer's thread, off the request path)."""
        if self.request_log is not None and self.request_log.wants(name) is not None:
            self.request_log.offer(name, version, self._LOG_FIELDS[api], build)

    # --------------------------------------------------------------------- gRPC

    def available_counts(self) -> Dict[str, int]:
        """How many versions of each model are AVAILABLE now (for monitoring)."""
        with self._lock:
            models = dict(self._models)
        return {n: sum(v.state == AVAILABLE for v in m.versions.values()) for n, m in models.items()}

    def label_version(self, name: str, label: str) -> int:
        """The version a label points at (NOT_FOUND when the model or label is unknown)."""
        with self._lock:
            state = self._models.get(name)
        if state is None or label not in state.labels:
            raise not_found(f"Could not find version label {label} of model {name}")
        return state.labels[label]

def parse_channel_arguments(text: str) -> List[Tuple[str, Any]]:
    """TF Serving's ``--grpc_channel_arguments``: ``key=value`` pairs separated by commas, values
    that are integers passed as integers."""
    options: List[Tuple[str, Any]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ServingError(f"gRPC channel argument {item!r} is not key=value")
        options.append((key, int(value) if value.lstrip("-").isdigit() else value))
    return options


def check_config(config: Any) -> None:
    """TF Serving's checks of a ModelServerConfig before it is adopted (server_core.cc)."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ServingError("Cannot transition to requested config. It is only legal to transition from one "
                           "ModelConfigList to another.", "FAILED_PRECONDITION", 400)
    seen = set()
    for entry in config.model_config_list.config:
        if entry.name in seen:
            raise ServingError(f"Illegal to list model {entry.name} multiple times in config list")
        seen.add(entry.name)
        if not entry.name:
            raise ServingError("ModelSpec has no name specified.")
        if not (entry.base_path.startswith("/") or "://" in entry.base_path):
            raise ServingError(f"Expected model {entry.name} to have an absolute path or URI; "
                               f"got base_path()={entry.base_path}")
        if entry.model_platform not in ("", "tensorflow"):
            raise ServingError(f"Model {entry.name} requests unsupported platform {entry.model_platform}")
        from .predlog import log_config_of

        log_config_of(entry)   # a logging_config this server cannot honour is refused with the config


def _failed_load(name: str, v: Version) -> ServingError:
    return ServingError(f"Servable {name} version {v.number} failed to load: {v.error}", "FAILED_PRECONDITION", 400)


def _unavailable_labels(models: Dict[str, ModelState]) -> Dict[ModelState, str]:
    """Models whose config labels a version that is not available, with TF Serving's message."""
    refused = {}
    for state in models.values():
        for version in state.labels.values():
            v = state.versions.get(version)
            if v is None or v.state != AVAILABLE:
                refused[state] = (f"Request to assign label to version {version} of model {state.name}, "
                                  f"which is not currently available for inference")
    return refused


def _utf8(value: Any) -> Any:
    """Strings as UTF-8 bytes, in nested lists (a string tensor's elements)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [_utf8(v) for v in value]
    return value


def _dtype_name(dtype: Any) -> str:
    """TensorFlow's DataTypeString: float, double, int32, string..."""
    import numpy as np

    if dtype is object:
        return "string"
    name = np.dtype(dtype).name
    return {"float32": "float", "float64": "double"}.get(name, name)


_JSON_TYPES = {str: "String", bool: "Boolean", int: "Number", float: "Number", dict: "Object", list: "Array",
               type(None): "Null"}


def _type_error(value: Any, dtype: Any) -> str:
    """TF Serving's wording for the first JSON value that is not of a numeric input's type."""
    import json

    if dtype is object:
        return ""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        elif not isinstance(v, (int, float)):
            shown = json.dumps(v) if isinstance(v, (str, dict, bool, type(None))) else repr(v)[:100]
            return (f"JSON Value: {shown} Type: {_JSON_TYPES.get(type(v), type(v).__name__)} "
                    f"is not of expected type: {_dtype_name(dtype)}")
    return ""


def serve_forever(config_path: str, grpc_port: int, rest_port: int, host: str = "127.0.0.1",
                  poll_seconds: float = 1.0, batch_size: int = 0, batch_timeout_ms: float = 2.0,
                  record_to: Optional[str] = None, grace: float = 5.0, **options: Any) -> None:
    """Run until SIGTERM, SIGINT (Ctrl-C) or SIGHUP, then stop gracefully (:meth:`ModelServer.stop`)
    and exit 0; a second signal exits at once (1). With ``record_to`` (a store URI) every version
    state change is recorded there as a ServingObservation, under a lease this process renews
    (:class:`~lineage.serving.observe.Observer`), ended when it stops. A server that fails to
    start (a port in use, a config TF Serving refuses) raises, and records nothing."""
    from ..observe import Observer

    observer = Observer(record_to, config_path=config_path) if record_to is not None else None
    if observer is not None:   # each closed request log file is recorded too, and who answered each head
        options.setdefault("on_log_closed", observer.log_closed)
        options.setdefault("on_remote", observer.remote_answer)
    server = ModelServer(config_path, grpc_port=grpc_port, rest_port=rest_port, host=host,
                         poll_seconds=poll_seconds, batch_size=batch_size,
                         batch_timeout_ms=batch_timeout_ms, on_state=observer, **options)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stopping.is_set():   # asked twice: leave now
            os._exit(1)
        log.info("%s: stopping", signal.Signals(signum).name)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        server.start()
    except BaseException:
        if observer is not None:
            observer.close()   # never began: nothing of this server is recorded
        raise
    if observer is not None:
        observer.begin(f"{host}:{server.grpc_port}")
    from .predlog import recover_parts   # a crashed predecessor's unfinished request logs: closed, recorded

    for closed in recover_parts(server.request_log.prefixes(), server.tf):
        if observer is not None:
            observer.log_closed(closed)
    print(f"serving {config_path}: gRPC {host}:{server.grpc_port}, REST http://{host}:{server.rest_port} "
          f"(SIGTERM or Ctrl-C stops)", flush=True)
    while not stopping.wait(3600):
        pass
    t0 = time.monotonic()
    server.stop(grace)
    if observer is not None:
        observer.close()
    print(f"stopped in {time.monotonic() - t0:.2f}s; {server.metrics.total()} requests answered since the start",
          flush=True)
    # TensorFlow can segfault in interpreter teardown (tensorflow/tensorflow#59242).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
