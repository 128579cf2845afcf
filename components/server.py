"""``lineage serve``: a small server that speaks TF Serving's gRPC and REST protocols and reads
its model config. It lives beside the components because it runs TensorFlow (it loads the
SavedModels); nothing in ``lineage/`` imports it but the ``serve`` command, when asked.

It exists so that one machine works with no set-up (no TensorFlow Serving binary can be installed
here); client and rollback code talk to it exactly as to a real TF Serving fleet.

- Config: a ``ModelServerConfig`` text proto (``model_config_list``: name, ``base_path``,
  ``model_version_policy`` latest N / all / specific, ``version_labels``). The file is polled
  (like ``--model_config_file_poll_wait_seconds``) and base paths are watched for new versions.
  ``ModelService/HandleReloadConfigRequest`` replaces the config in memory at once.
- Loading happens in a background thread. A new version is loaded completely before it is
  swapped in (one reference assignment under a lock); versions leaving the policy are unloaded
  only after that. A request holds the version it started with, so loads and unloads never fail
  requests in flight.
- gRPC (``tensorflow_serving.apis``): PredictionService Predict, Classify, Regress,
  GetModelMetadata; ModelService GetModelStatus, HandleReloadConfigRequest.
- REST (TF Serving's URLs and JSON): ``GET /v1/models/{name}[/versions/{v}|/labels/{l}][/metadata]``
  and ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict|:classify|:regress`` with row
  (``instances``) or columnar (``inputs``) requests and ``{"b64": ...}`` binary values; errors are
  ``{"error": "..."}`` with TF Serving's HTTP statuses.

Binds 127.0.0.1 by default; request bodies are bounded (``max_request_bytes``). Server-side
batching of concurrent predict requests (``batch_size``, ``batch_timeout_ms``) is off by default.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from lineage.serving.config import read_config, versions_on_disk

log = logging.getLogger("lineage.serving")

__all__ = ["ModelServer", "ServingError"]

# ModelVersionStatus.State values (tensorflow_serving/apis/get_model_status.proto)
START, LOADING, AVAILABLE, UNLOADING, END = 10, 20, 30, 40, 50
STATE_NAMES = {0: "UNKNOWN", START: "START", LOADING: "LOADING", AVAILABLE: "AVAILABLE",
               UNLOADING: "UNLOADING", END: "END"}


class ServingError(Exception):
    """A request the server refuses; ``code`` is a gRPC status name, ``http`` the REST status."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT", http: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.http = http


def _not_found(msg: str) -> ServingError:
    return ServingError(msg, "NOT_FOUND", 404)


@dataclass
class Version:
    number: int
    path: str
    state: int = START
    error: str = ""
    model: Any = None         # the loaded SavedModel (tf.saved_model.load)
    signatures: Dict[str, Any] = field(default_factory=dict)
    signature_defs: Any = None  # SignatureDefMap proto for metadata


@dataclass
class ModelState:
    name: str
    base_path: str
    policy: Tuple[str, Tuple[int, ...]]  # ("latest", (n,)) | ("all", ()) | ("specific", (v, ...))
    labels: Dict[str, int]
    versions: Dict[int, Version] = field(default_factory=dict)


def _policy(entry) -> Tuple[str, Tuple[int, ...]]:
    p = entry.model_version_policy
    kind = p.WhichOneof("policy_choice")
    if kind == "specific":
        return "specific", tuple(sorted(int(v) for v in p.specific.versions))
    if kind == "all":
        return "all", ()
    n = p.latest.num_versions if kind == "latest" and p.latest.num_versions else 1
    return "latest", (n,)


def _wanted(policy: Tuple[str, Tuple[int, ...]], disk: List[int]) -> List[int]:
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
                 batch_timeout_ms: float = 2.0) -> None:
        self.config_path = str(config_path)
        self.host = host
        self.grpc_port = grpc_port
        self.rest_port = rest_port
        self.poll_seconds = poll_seconds
        self.max_request_bytes = max_request_bytes
        self.workers = workers
        self.batch_size = batch_size          # 0 or 1: no batching (the default)
        self.batch_timeout_ms = batch_timeout_ms
        self._batchers: Dict[tuple, Batcher] = {}
        self._models: Dict[str, ModelState] = {}
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._config = None
        self._config_mtime: Optional[float] = None
        self._config_override = None  # set by HandleReloadConfigRequest
        self._loader: Optional[threading.Thread] = None
        self._grpc = None
        self._http: Optional[ThreadingHTTPServer] = None
        self._tf = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "ModelServer":
        from ._tf import tf  # TF_USE_LEGACY_KERAS, quiet logs

        self._tf = tf()
        self._reload(force=True)
        self._loader = threading.Thread(target=self._loop, name="model-loader", daemon=True)
        self._loader.start()
        self._start_grpc()
        self._start_rest()
        log.info("serving %s: gRPC %s:%s, REST %s:%s", self.config_path, self.host, self.grpc_port,
                 self.host, self.rest_port)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._grpc is not None:
            self._grpc.stop(grace=1).wait()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._loader is not None:
            self._loader.join(10)

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._reload()
            except Exception:  # a bad config file must not kill the loader
                log.exception("reload failed")

    # ------------------------------------------------------------------- config

    def reload_config(self, config) -> None:
        """Adopt ``config`` now (what HandleReloadConfigRequest does) and load synchronously."""
        with self._lock:
            self._config_override = config
        self._reload(force=True)

    def _current_config(self, force: bool):
        try:
            mtime = os.stat(self.config_path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self._config_mtime:  # the file changed: it wins over an in-memory reload
            self._config_mtime = mtime
            self._config_override = None
            return read_config(self.config_path)
        if self._config_override is not None:
            return self._config_override
        return self._config if self._config is not None and not force else read_config(self.config_path)

    def _reload(self, force: bool = False) -> None:
        with self._reload_lock:  # the poller and a ReloadConfig request never interleave
            self._reload_locked(force)

    def _reload_locked(self, force: bool) -> None:
        config = self._current_config(force)
        self._config = config
        entries = {e.name: e for e in config.model_config_list.config}
        with self._lock:
            models = dict(self._models)
        for name in list(models):
            if name not in entries:  # removed from the config: unload everything
                self._retire(models.pop(name), keep=())
        for name, entry in entries.items():
            state = models.get(name)
            policy, labels = _policy(entry), {k: int(v) for k, v in entry.version_labels.items()}
            if state is None or state.base_path != entry.base_path:
                state = ModelState(name, entry.base_path, policy, labels)
            state.policy, state.labels = policy, labels
            models[name] = state
            wanted = _wanted(policy, versions_on_disk(entry.base_path))
            for v in wanted:
                cur = state.versions.get(v)
                # Load what is new, or was unloaded earlier; retry a failed load only when asked.
                if cur is None or (cur.state == END and (not cur.error or force)):
                    self._load(state, v)
            available = [v for v in wanted if state.versions.get(v) and state.versions[v].state == AVAILABLE]
            # Unload what left the policy, but never leave a model with nothing to serve.
            if available or not wanted:
                self._retire(state, keep=set(wanted))
        with self._lock:
            self._models = models

    def _load(self, state: ModelState, number: int) -> None:
        path = os.path.join(state.base_path, str(number))
        version = Version(number, path, LOADING)
        with self._lock:
            state.versions = {**state.versions, number: version}
        try:
            from tensorflow.core.protobuf import saved_model_pb2

            loaded = self._tf.saved_model.load(path)
            proto = saved_model_pb2.SavedModel()
            proto.ParseFromString(Path(path, "saved_model.pb").read_bytes())
            new = Version(number, path, AVAILABLE, model=loaded, signatures=dict(loaded.signatures),
                          signature_defs=proto.meta_graphs[0].signature_def)
            log.info("loaded %s version %s", state.name, number)
        except Exception as exc:  # a corrupt or unreadable SavedModel
            new = Version(number, path, END, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            log.warning("could not load %s version %s: %s", state.name, number, new.error)
        with self._lock:
            state.versions = {**state.versions, number: new}  # the swap: one assignment

    def _retire(self, state: ModelState, keep) -> None:
        with self._lock:
            gone = [v for v in state.versions if v not in keep and state.versions[v].state != END]
            if not gone:
                return
            state.versions = {v: (Version(v, s.path, END, error=s.error) if v in gone else s)
                              for v, s in state.versions.items()}
        for v in gone:
            log.info("unloaded %s version %s", state.name, v)

    # ------------------------------------------------------------------ routing

    def status(self, name: str, version: Optional[int] = None) -> List[Version]:
        with self._lock:
            state = self._models.get(name)
        if state is None:
            raise _not_found(f"Could not find any versions of model {name}")
        versions = state.versions
        if version is not None:
            if version not in versions:
                raise _not_found(f"Could not find version {version} of model {name}")
            return [versions[version]]
        return [versions[v] for v in sorted(versions)]

    def resolve(self, name: str, version: Optional[int] = None, label: Optional[str] = None) -> Version:
        with self._lock:
            state = self._models.get(name)
        if state is None:
            raise _not_found(f"Servable not found for request: Latest({name})")
        if label is not None:
            if label not in state.labels:
                raise ServingError(f"Unrecognized servable version label: {label}", "INVALID_ARGUMENT", 400)
            version = state.labels[label]
        versions = state.versions
        if version is not None:
            v = versions.get(version)
            if v is None or v.state != AVAILABLE:
                raise _not_found(f"Servable not found for request: Specific({name}, {version})")
            return v
        live = [v for v in versions.values() if v.state == AVAILABLE]
        if not live:
            raise _not_found(f"Servable not found for request: Latest({name})")
        return max(live, key=lambda v: v.number)

    @staticmethod
    def signature(version: Version, name: str = "", default: str = "serving_default"):
        key = name or default
        fn = version.signatures.get(key)
        if fn is None:
            raise ServingError(f"Serving signature name: \"{key}\" not found in signature def", "INVALID_ARGUMENT", 400)
        return key, fn

    def run(self, version: Version, signature_name: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """Call a signature with numpy/python inputs; returns numpy outputs."""
        TF = self._tf
        key, fn = self.signature(version, signature_name)
        expected = fn.structured_input_signature[1]
        unknown = sorted(set(inputs) - set(expected))
        missing = sorted(set(expected) - set(inputs))
        if unknown or missing:
            raise ServingError(
                f"input names do not match signature {key}: expected {sorted(expected)}"
                + (f", unknown {unknown}" if unknown else "") + (f", missing {missing}" if missing else ""))
        args = {}
        for k, spec in expected.items():
            try:
                args[k] = TF.convert_to_tensor(inputs[k], dtype=spec.dtype)
            except (TypeError, ValueError) as exc:
                raise ServingError(f"input {k!r} cannot be a {spec.dtype.name} tensor: {exc}") from None
            if not spec.shape.is_compatible_with(args[k].shape):
                raise ServingError(f"input {k!r} has shape {args[k].shape.as_list()}, "
                                   f"the signature expects {spec.shape.as_list()}")
        if self.batch_size > 1 and args and all(len(t.shape) >= 1 for t in args.values()):
            return self._batcher(version, key, fn).submit({k: t.numpy() for k, t in args.items()})
        return _call(TF, fn, args)

    def _batcher(self, version: Version, key: str, fn) -> "Batcher":
        with self._lock:
            b = self._batchers.get((id(version.model), key))
            if b is None:
                b = Batcher(self._tf, fn, self.batch_size, self.batch_timeout_ms / 1000.0)
                self._batchers[(id(version.model), key)] = b
            return b

    # --------------------------------------------------------------------- gRPC

    def _start_grpc(self) -> None:
        import grpc
        from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                             get_model_status_pb2, model_management_pb2,
                                             model_service_pb2_grpc, predict_pb2,
                                             prediction_service_pb2_grpc, regression_pb2)

        server = self
        TF = self._tf

        def abort(context, err: ServingError):
            context.abort(getattr(grpc.StatusCode, err.code), str(err))

        def spec_of(ms):
            version = ms.version.value if ms.HasField("version") else None
            label = ms.version_label or None
            return ms.name, version, label

        class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):
                try:
                    name, version, label = spec_of(request.model_spec)
                    v = server.resolve(name, version, label)
                    inputs = {k: TF.make_ndarray(t) for k, t in request.inputs.items()}
                    out = server.run(v, request.model_spec.signature_name, inputs)
                    resp = predict_pb2.PredictResponse()
                    resp.model_spec.name = name
                    resp.model_spec.version.value = v.number
                    resp.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
                    wanted = set(request.output_filter) or set(out)
                    for k, arr in out.items():
                        if k in wanted:
                            resp.outputs[k].CopyFrom(TF.make_tensor_proto(arr))
                    return resp
                except ServingError as err:
                    abort(context, err)

            def _examples(self, request):
                which = request.input.WhichOneof("kind")
                if which == "example_list":
                    return [e.SerializeToString() for e in request.input.example_list.examples]
                if which == "example_list_with_context":
                    ctx = request.input.example_list_with_context.context
                    out = []
                    for e in request.input.example_list_with_context.examples:
                        merged = type(e)()
                        merged.CopyFrom(ctx)
                        merged.MergeFrom(e)
                        out.append(merged.SerializeToString())
                    return out
                raise ServingError("Input is empty")

            def _on_examples(self, request, default_signature: str):
                """Resolve the model and run a signature over the request's tf.Examples."""
                name, version, label = spec_of(request.model_spec)
                v = server.resolve(name, version, label)
                sig = request.model_spec.signature_name or default_signature
                return name, v, server.run(v, sig, {_single_input(v, sig): self._examples(request)})

            def Classify(self, request, context):
                try:
                    name, v, out = self._on_examples(request, "classify")
                    resp = classification_pb2.ClassificationResponse()
                    resp.model_spec.name, resp.model_spec.version.value = name, v.number
                    for row_classes, row_scores in zip(out.get("classes", []), out.get("scores", [])):
                        c = resp.result.classifications.add()
                        for cl, sc in zip(row_classes, row_scores):
                            c.classes.add(label=cl.decode() if isinstance(cl, bytes) else str(cl), score=float(sc))
                    return resp
                except ServingError as err:
                    abort(context, err)

            def Regress(self, request, context):
                try:
                    name, v, out = self._on_examples(request, "regress")
                    resp = regression_pb2.RegressionResponse()
                    resp.model_spec.name, resp.model_spec.version.value = name, v.number
                    for value in out.get("outputs", next(iter(out.values()))).reshape(-1):
                        resp.result.regressions.add(value=float(value))
                    return resp
                except ServingError as err:
                    abort(context, err)

            def GetModelMetadata(self, request, context):
                try:
                    name, version, label = spec_of(request.model_spec)
                    if list(request.metadata_field) not in ([], ["signature_def"]):
                        raise ServingError("Metadata field(s) not supported: " + ", ".join(request.metadata_field))
                    v = server.resolve(name, version, label)
                    resp = get_model_metadata_pb2.GetModelMetadataResponse()
                    resp.model_spec.name, resp.model_spec.version.value = name, v.number
                    sigmap = get_model_metadata_pb2.SignatureDefMap()
                    for k, sd in v.signature_defs.items():
                        if not k.startswith("__"):
                            sigmap.signature_def[k].CopyFrom(sd)
                    resp.metadata["signature_def"].Pack(sigmap)
                    return resp
                except ServingError as err:
                    abort(context, err)

        class Models(model_service_pb2_grpc.ModelServiceServicer):
            def GetModelStatus(self, request, context):
                try:
                    name, version, label = spec_of(request.model_spec)
                    if label:
                        with server._lock:
                            state = server._models.get(name)
                        if state is None or label not in state.labels:
                            raise _not_found(f"Could not find version label {label} of model {name}")
                        version = state.labels[label]
                    resp = get_model_status_pb2.GetModelStatusResponse()
                    for v in server.status(name, version):
                        s = resp.model_version_status.add(version=v.number, state=v.state)
                        if v.error:
                            s.status.error_code = 13  # INTERNAL
                            s.status.error_message = v.error
                    return resp
                except ServingError as err:
                    abort(context, err)

            def HandleReloadConfigRequest(self, request, context):
                resp = model_management_pb2.ReloadConfigResponse()
                try:
                    server.reload_config(request.config)
                except Exception as exc:  # report, as TF Serving does, in the status
                    resp.status.error_code = 3
                    resp.status.error_message = str(exc)[:500]
                return resp

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=self.workers),
                                 options=[("grpc.max_receive_message_length", self.max_request_bytes),
                                          ("grpc.so_reuseport", 0)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), self._grpc)
        port = self._grpc.add_insecure_port(f"{self.host}:{self.grpc_port}")
        if port == 0:
            raise OSError(f"cannot listen for gRPC on {self.host}:{self.grpc_port} (in use?)")
        self.grpc_port = port
        self._grpc.start()

    # --------------------------------------------------------------------- REST

    def _start_rest(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("rest %s - " + fmt, self.address_string(), *args)

            def _send(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body, default=_json_default).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                try:
                    self._send(200, server._rest_get(self.path))
                except ServingError as err:
                    self._send(err.http, {"error": str(err)})

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > server.max_request_bytes:
                    self.close_connection = True
                    self._send(413, {"error": f"Request body too large or unsized: at most "
                                              f"{server.max_request_bytes} bytes"})
                    return
                body = self.rfile.read(length)
                try:
                    self._send(200, server._rest_post(self.path, body))
                except ServingError as err:
                    self._send(err.http, {"error": str(err)})

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._http = Server((self.host, self.rest_port), Handler)
        self.rest_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="rest", daemon=True).start()

    _PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                       r"(?P<rest>/metadata|:predict|:classify|:regress)?/?$")

    def _parse_path(self, path: str):
        m = self._PATH.match(path.split("?", 1)[0])
        if not m:
            raise ServingError(f"Malformed request: {path}", "INVALID_ARGUMENT", 404)
        version = int(m["version"]) if m["version"] else None
        return m["name"], version, m["label"], m["rest"]

    def _rest_get(self, path: str) -> Dict[str, Any]:
        name, version, label, rest = self._parse_path(path)
        if rest not in (None, "/metadata"):
            raise ServingError(f"Malformed request: GET {path}", "INVALID_ARGUMENT", 405)
        if rest == "/metadata":
            from google.protobuf import json_format

            v = self.resolve(name, version, label)
            sigs = {k: json_format.MessageToDict(sd) for k, sd in v.signature_defs.items()
                    if not k.startswith("__")}
            return {"model_spec": {"name": name, "signature_name": "", "version": str(v.number)},
                    "metadata": {"signature_def": {"signature_def": sigs}}}
        if label is not None:
            version = self.resolve(name, None, label).number
        return {"model_version_status": [
            {"version": str(v.number), "state": STATE_NAMES[v.state],
             "status": {"error_code": "OK" if not v.error else "INTERNAL", "error_message": v.error}}
            for v in self.status(name, version)]}

    def _rest_post(self, path: str, body: bytes) -> Dict[str, Any]:
        name, version, label, rest = self._parse_path(path)
        if rest not in (":predict", ":classify", ":regress"):
            raise ServingError(f"Malformed request: POST {path}", "INVALID_ARGUMENT", 405)
        try:
            req = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServingError(f"JSON Parse error: {exc}") from None
        if not isinstance(req, dict):
            raise ServingError("JSON Value: request body is not a JSON object")
        v = self.resolve(name, version, label)
        sig_name = req.get("signature_name", "")
        if rest == ":predict":
            return self._rest_predict(v, sig_name, req)
        return self._rest_classify_regress(v, sig_name, req, rest[1:])

    def _rest_predict(self, v: Version, sig_name: str, req: Dict[str, Any]) -> Dict[str, Any]:
        _, fn = self.signature(v, sig_name)
        names = sorted(fn.structured_input_signature[1])
        if ("instances" in req) == ("inputs" in req):
            raise ServingError("Missing 'inputs' or 'instances' key" if "instances" not in req
                               else "Request cannot have both 'instances' and 'inputs'")
        if "instances" in req:
            rows = req["instances"]
            if not isinstance(rows, list) or not rows:
                raise ServingError("'instances' must be a non-empty list")
            if all(isinstance(r, dict) and not _is_b64(r) for r in rows):
                keys = set(rows[0])
                if any(set(r) != keys for r in rows):
                    raise ServingError("Failed to process element: every instance needs the same named inputs")
                inputs = {k: [_decode(r[k]) for r in rows] for k in keys}
            elif len(names) == 1:
                inputs = {names[0]: [_decode(r) for r in rows]}
            else:
                raise ServingError(f"instances must be objects naming the inputs {names}")
            out = self.run(v, sig_name, inputs)
            if len(out) == 1:
                return {"predictions": _tolist(next(iter(out.values())))}
            keys = sorted(out)
            n = len(next(iter(out.values())))
            return {"predictions": [{k: _tolist(out[k][i]) for k in keys} for i in range(n)]}
        cols = req["inputs"]
        inputs = ({k: _decode(x) for k, x in cols.items()} if isinstance(cols, dict) and not _is_b64(cols)
                  else {names[0]: _decode(cols)} if len(names) == 1 else None)
        if inputs is None:
            raise ServingError(f"'inputs' must be an object naming the inputs {names}")
        out = self.run(v, sig_name, inputs)
        return {"outputs": _tolist(next(iter(out.values()))) if len(out) == 1 else
                {k: _tolist(a) for k, a in out.items()}}

    def _rest_classify_regress(self, v: Version, sig_name: str, req: Dict[str, Any], kind: str) -> Dict[str, Any]:
        TF = self._tf
        examples = req.get("examples")
        if not isinstance(examples, list) or not examples:
            raise ServingError("'examples' must be a non-empty list of feature objects")
        context = req.get("context") or {}
        serialized = []
        for ex in examples:
            if not isinstance(ex, dict):
                raise ServingError("each example must be an object of feature values")
            serialized.append(_to_example(TF, {**context, **ex}).SerializeToString())
        sig = sig_name or kind
        out = self.run(v, sig, {_single_input(v, sig): serialized})
        if kind == "classify":
            return {"results": [[[c.decode() if isinstance(c, bytes) else str(c), float(s)]
                                 for c, s in zip(cl, sc)]
                                for cl, sc in zip(out["classes"], out["scores"])]}
        values = out.get("outputs", next(iter(out.values())))
        return {"results": [float(x) for x in values.reshape(-1)]}


def _call(TF, fn, args: Dict[str, Any]) -> Dict[str, Any]:
    try:
        out = fn(**args)
    except (TF.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        raise ServingError(str(exc).splitlines()[0][:500]) from None
    return {k: v.numpy() for k, v in out.items()}


class Batcher:
    """Server-side batching of concurrent requests to one signature of one loaded version.

    A request waits at most ``timeout`` seconds for others; up to ``max_rows`` rows run as one
    call, whose outputs are split back by each request's row count. Requests whose inputs do not
    stack (other trailing shapes or dtypes) run on their own.
    """

    def __init__(self, TF, fn, max_rows: int, timeout: float) -> None:
        self.TF, self.fn, self.max_rows, self.timeout = TF, fn, max_rows, timeout
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
                batch, rest, rows = [], [], 0
                for item in self._queue:
                    n = len(next(iter(item[0].values())))
                    if self._shape_key(item[0]) == first and (not batch or rows + n <= self.max_rows):
                        batch.append(item)
                        rows += n
                    else:
                        rest.append(item)
                self._queue = rest
            try:
                args = {k: self.TF.constant(np.concatenate([i[k] for i, _ in batch], axis=0))
                        for k in batch[0][0]}
                out = _call(self.TF, self.fn, args)
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


def _single_input(v: Version, sig: str) -> str:
    fn = v.signatures.get(sig)
    if fn is None:
        raise ServingError(f"Serving signature name: \"{sig}\" not found in signature def")
    names = list(fn.structured_input_signature[1])
    if len(names) != 1:
        raise ServingError(f"signature {sig} does not take serialized examples")
    return names[0]


def _is_b64(x: Any) -> bool:
    return isinstance(x, dict) and set(x) == {"b64"}


def _decode(x: Any) -> Any:
    if _is_b64(x):
        try:
            return base64.b64decode(x["b64"], validate=True)
        except (ValueError, TypeError):
            raise ServingError("Invalid base64 value in {\"b64\": ...}") from None
    if isinstance(x, list):
        return [_decode(i) for i in x]
    return x


def _tolist(a: Any) -> Any:
    if hasattr(a, "tolist"):
        a = a.tolist()
    if isinstance(a, bytes):
        try:
            return a.decode()
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(a).decode()}
    if isinstance(a, list):
        return [_tolist(i) for i in a]
    return a


def _json_default(o: Any) -> Any:
    return _tolist(o)


def _to_example(TF, feats: Dict[str, Any]):
    out = {}
    for k, v in feats.items():
        vals = v if isinstance(v, list) else [v]
        if all(isinstance(x, bool) or isinstance(x, int) for x in vals):
            out[k] = TF.train.Feature(int64_list=TF.train.Int64List(value=[int(x) for x in vals]))
        elif all(isinstance(x, (int, float)) for x in vals):
            out[k] = TF.train.Feature(float_list=TF.train.FloatList(value=[float(x) for x in vals]))
        else:
            out[k] = TF.train.Feature(bytes_list=TF.train.BytesList(
                value=[_decode(x) if _is_b64(x) else str(x).encode() for x in vals]))
    return TF.train.Example(features=TF.train.Features(feature=out))


def serve_forever(config_path: str, grpc_port: int, rest_port: int, host: str = "127.0.0.1",
                  poll_seconds: float = 1.0, batch_size: int = 0, batch_timeout_ms: float = 2.0) -> None:
    """Run until interrupted (what ``lineage serve`` does)."""
    server = ModelServer(config_path, grpc_port=grpc_port, rest_port=rest_port, host=host,
                         poll_seconds=poll_seconds, batch_size=batch_size,
                         batch_timeout_ms=batch_timeout_ms).start()
    print(f"serving {config_path}: gRPC {host}:{server.grpc_port}, REST http://{host}:{server.rest_port} "
          f"(Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        # TensorFlow can segfault in interpreter teardown (tensorflow/tensorflow#59242).
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
