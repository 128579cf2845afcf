"""TF Serving's REST API over HTTP/1.1 (served by waitress): ``GET /v1/models/{name}[/versions/{v}|/labels/{l}][/metadata]``
and ``POST ...:predict|:classify|:regress`` with row (``instances``) or columnar (``inputs``)
requests; errors are ``{"error": "..."}`` with TF Serving's HTTP statuses."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote

from ..states import state_name
from .codec import (classifications, decode, is_b64, json_default, rest_value, single_input, to_example,
                    typed_tensor_proto)
from .errors import ServingError
from .ports import check_port_free

log = logging.getLogger("lineage.serving")

__all__ = ["application", "RestServer", "start_rest", "rest_get", "rest_post"]

# TF Serving's request paths (http_rest_api_util.cc), matched whole and case-insensitively
_POST_PATH = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                        r":(?P<rest>classify|regress|predict)", re.I)
_GET_PATH = re.compile(r"/v1/models(?:/(?P<name>[^/:]+))?(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                       r"(?:/(?P<rest>metadata))?", re.I)
_INT64_MAX = 2 ** 63 - 1
_API_PATH = re.compile(r"/v1/", re.I)    # TF Serving's kPathRegex, (?i)/v1/.*
_MODEL_IN_PATH = re.compile(r"/v1/models/([^/:?]+)", re.I)


def application(model_server: Any) -> Callable[..., Any]:
    """The REST API as a WSGI application over ``model_server``."""

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        method = environ["REQUEST_METHOD"]
        # the path as sent (TF Serving matches its regexes before decoding the model name)
        path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
        if model_server.prometheus_path and method == "GET" and path.split("?")[0] == model_server.prometheus_path:
            text = model_server.metrics.prometheus(model_server.available_counts()).encode()
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4"), ("Content-Length", str(len(text)))])
            return [text]
        started = time.perf_counter()
        if not _API_PATH.match(path):   # outside TF Serving's REST handler (kPathRegex): not found
            data = json.dumps({"error": f"Not found: {path}"}).encode()
            start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        try:
            if method == "GET":
                status, body = 200, rest_get(model_server, path)
            elif method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                status, body = 200, rest_post(model_server, path, environ["wsgi.input"].read(length))
            else:
                raise ServingError(f"Malformed request: {method} {path}", "INVALID_ARGUMENT", 400)
        except ServingError as err:
            status, body = err.http, {"error": str(err)}
        named = _MODEL_IN_PATH.match(path)
        model_server.metrics.observe(unquote(named[1]) if named else "", f"REST {method}",
                                     "OK" if status == 200 else str(status), started)
        data = json.dumps(body, default=json_default).encode()
        start_response(f"{status} {_REASONS.get(status, 'Error')}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    return app


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class RestServer:
    """The HTTP server (waitress) serving :func:`application` in a daemon thread, once started."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self.port = server.effective_port
        self._thread = threading.Thread(target=server.run, name="rest", daemon=True)

    def start(self) -> "RestServer":
        self._thread.start()
        return self

    def close(self, grace: float = 0.0) -> None:
        """Stop: take the connections the kernel already completed, then close the listening
        socket (new ones are refused); let every request taken be answered and the answers go out
        (up to ``grace`` seconds); then close every connection."""
        from waitress import wasyncore
        from waitress.channel import HTTPChannel

        srv = self._server
        closed = threading.Event()

        def stop_listening() -> None:   # on the server's own loop thread
            try:
                while select.select([srv.socket], [], [], 0)[0]:   # the listen backlog: taken, answered
                    srv.handle_accept()
                srv.accepting = False
                wasyncore.dispatcher.close(srv)   # the listening socket only (the server's close() also
                #                                   closes the trigger the loop still needs)
            finally:
                closed.set()

        deadline = time.monotonic() + grace
        if self._thread.is_alive():
            srv.trigger.pull_trigger(stop_listening)
            closed.wait(max(grace, 1.0))
        else:
            srv.accepting = False
        while time.monotonic() < deadline and self._thread.is_alive():
            now = time.time()   # waitress's clock for last_activity
            busy = [ch for ch in list(srv._map.values()) if isinstance(ch, HTTPChannel)
                    and (ch.requests or ch.request is not None or ch.total_outbufs_len
                         or now - ch.last_activity < 0.1)]   # just taken: its request is on its way
            if not busy:
                break
            time.sleep(0.01)
        self._server.task_dispatcher.shutdown(timeout=max(0.0, deadline - time.monotonic()) + 1)
        if not self._thread.is_alive():
            wasyncore.close_all(srv._map)
            return
        # closed on the loop's own thread, so the loop ends at once (its map is empty) and is
        # waited for: no descriptor it holds is touched after a next server reuses the number
        srv.trigger.pull_trigger(lambda: wasyncore.close_all(srv._map))
        self._thread.join(5)


def start_rest(model_server: Any, *, start: bool = True) -> RestServer:
    """A REST server for ``model_server`` on its host and REST port (port 0 picks a free port,
    written back to ``model_server.rest_port``), bound, and serving unless ``start=False``.
    Connections idle for ``idle_timeout`` seconds (a stalled client, half a request) are closed, at most ``max_connections`` are open at once
    (more wait in the listen backlog), and bodies over ``max_request_bytes`` are refused (413)."""
    from waitress.server import create_server

    check_port_free(model_server.host, model_server.rest_port, "REST")
    if not os.environ.get("LINEAGE_VERBOSE"):
        logging.getLogger("waitress").setLevel(logging.ERROR)
    server = create_server(application(model_server), host=model_server.host, port=model_server.rest_port,
                           threads=model_server.workers, connection_limit=model_server.max_connections,
                           channel_timeout=model_server.idle_timeout,
                           cleanup_interval=max(min(model_server.idle_timeout / 2, 30), 0.5),
                           max_request_body_size=model_server.max_request_bytes,
                           ident="lineage", expose_tracebacks=False)
    rest = RestServer(server)
    model_server.rest_port = rest.port
    return rest.start() if start else rest


def _parse_path(method: str, path: str) -> Tuple[str, Optional[int], Optional[str], Optional[str]]:
    """``(model name, version, label, "predict" | "classify" | "regress" | "metadata" | None)``
    of a request path, with TF Serving's errors for paths it does not serve."""
    m = (_POST_PATH if method == "POST" else _GET_PATH).fullmatch(path.split("?", 1)[0])
    if not m:
        raise ServingError(f"Malformed request: {method} {path}", "INVALID_ARGUMENT", 400)
    if not m["name"]:
        raise ServingError("Missing model name in request.", "INVALID_ARGUMENT", 400)
    version = None
    if m["version"]:
        version = int(m["version"])
        if version > _INT64_MAX:
            raise ServingError(f"Failed to convert version: {m['version']} to numeric.", "INVALID_ARGUMENT", 400)
    label = unquote(m["label"]) if m["label"] else None
    return unquote(m["name"]), version, label, (m["rest"] or "").lower() or None

def rest_get(server: Any, path: str) -> Dict[str, Any]:
    name, version, label, rest = _parse_path("GET", path)
    if rest == "metadata":
        from google.protobuf import json_format

        v = server.resolve(name, version, label)
        # TF Serving prints the SignatureDefMap with proto field names and default values
        sigs = {k: json_format.MessageToDict(sd, preserving_proto_field_name=True,
                                             including_default_value_fields=True)
                for k, sd in v.signature_defs.items()}
        return {"model_spec": {"name": name, "signature_name": "", "version": str(v.number)},
                "metadata": {"signature_def": {"signature_def": sigs}}}
    if label is not None:
        version = server.resolve(name, None, label).number
    return {"model_version_status": [
        {"version": str(v.number), "state": state_name(v.state),
         "status": {"error_code": v.error_code if v.error else "OK", "error_message": v.error}}
        for v in server.status(name, version)]}

def rest_post(server: Any, path: str, body: bytes) -> Dict[str, Any]:
    name, version, label, rest = _parse_path("POST", path)
    req = _parse_json(body)
    v = server.resolve(name, version, label)
    sig_name = req.get("signature_name", "")
    if not isinstance(sig_name, str):
        raise ServingError(f"JSON Value: {_short(req)} not formatted correctly. "
                           f"'signature_name' key must be a string value.")
    if rest == "predict":
        answer, (inputs, out) = _predict(server, v, sig_name, req)
    else:
        answer, (inputs, out) = _classify_regress(server, v, sig_name, req, rest)
    _log(server, rest, name, v.number, sig_name, inputs, out)
    return answer


def _log(server: Any, rest: str, name: str, version: int, sig_name: str, inputs: Dict[str, Any],
         out: Dict[str, Any]) -> None:
    """A sample of the answer goes to the model's request log, as the gRPC request and response
    it stands for (TF Serving's REST API logs what its gRPC twin would)."""
    api = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}[rest]

    def build() -> Tuple[Any, Any]:
        import numpy as np
        from tensorflow_serving.apis import classification_pb2, predict_pb2, regression_pb2

        from .grpc_api import fill_classifications, fill_regressions

        TF = server.tf
        if api == "Predict":
            request, response = predict_pb2.PredictRequest(), predict_pb2.PredictResponse()
            for k, x in inputs.items():
                arr = x if isinstance(x, np.ndarray) else np.asarray(
                    [e.encode() if isinstance(e, str) else e for e in x] if isinstance(x, list) else x)
                request.inputs[k].CopyFrom(typed_tensor_proto(TF, arr))
            for k, arr in out.items():
                response.outputs[k].CopyFrom(typed_tensor_proto(TF, arr))
        else:
            pb = classification_pb2 if api == "Classify" else regression_pb2
            request = pb.ClassificationRequest() if api == "Classify" else pb.RegressionRequest()
            response = pb.ClassificationResponse() if api == "Classify" else pb.RegressionResponse()
            for serialized in inputs["examples"]:
                request.input.example_list.examples.add().ParseFromString(serialized)
            (fill_classifications if api == "Classify" else fill_regressions)(response.result, out)
        for spec in (request.model_spec, response.model_spec):
            spec.name = name
            spec.signature_name = sig_name or "serving_default"
        response.model_spec.version.value = version
        return request, response

    server.log_rest(api, name, version, build)


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 200 else text[:200] + "..."


def _parse_json(body: bytes) -> Dict[str, Any]:
    """The request body as a JSON object, with TF Serving's errors (its parser is rapidjson)."""
    if not body or not body.strip():
        raise ServingError("JSON Parse error: The document is empty")
    try:
        req = json.loads(body)
    except json.JSONDecodeError as exc:
        what = "Invalid value." if exc.msg.startswith("Expecting value") else exc.msg + "."
        raise ServingError(f"JSON Parse error: {what} at offset: {exc.pos}") from None
    except UnicodeDecodeError as exc:
        raise ServingError(f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}") from None
    except RecursionError:  # Python's parser recurses; TF Serving's does not, but a limit is right
        raise ServingError("JSON Parse error: The document is nested too deeply.") from None
    except ValueError:   # an integer past Python's 4,300-digit limit: rapidjson's error for a huge number
        raise ServingError("JSON Parse error: Number too big to be stored in double.") from None
    if not isinstance(req, dict):
        raise ServingError(f"JSON Value: {_short(req)} Is not object")
    return req

def _predict(server: Any, v: Any, sig_name: str, req: Dict[str, Any]) -> Tuple[Dict[str, Any], Any]:
    try:
        _, sd = server.signature(v, sig_name)
    except ServingError:   # the REST handler reads the JSON against the signature first (TF Serving's words)
        raise ServingError(f'Serving signature name: "{sig_name or "serving_default"}" not found in signature def',
                           "INVALID_ARGUMENT", 400) from None
    names = sorted(sd.inputs)
    if ("instances" in req) == ("inputs" in req):
        raise ServingError("Missing 'inputs' or 'instances' key" if "instances" not in req
                           else "Request cannot have both 'instances' and 'inputs'")
    if "instances" in req:
        rows = req["instances"]
        if not isinstance(rows, list) or not rows:
            raise ServingError("'instances' must be a non-empty list")
        if all(isinstance(r, dict) and not is_b64(r) for r in rows):
            keys = set(rows[0])
            if any(set(r) != keys for r in rows):
                raise ServingError("Failed to process element: every instance needs the same named inputs")
            inputs = {k: [decode(r[k]) for r in rows] for k in keys}
        elif len(names) == 1:
            inputs = {names[0]: [decode(r) for r in rows]}
        else:
            raise ServingError(f"instances must be objects naming the inputs {names}")
        out = server.run(v, sig_name, inputs)
        if len(out) == 1:
            return {"predictions": rest_value(*next(iter(out.items())))}, (inputs, out)
        n = len(next(iter(out.values())))
        return {"predictions": [{k: rest_value(k, out[k][i]) for k in sorted(out)} for i in range(n)]}, (inputs, out)
    cols = req["inputs"]
    inputs = ({k: decode(x) for k, x in cols.items()} if isinstance(cols, dict) and not is_b64(cols)
              else {names[0]: decode(cols)} if len(names) == 1 else None)
    if inputs is None:
        raise ServingError(f"'inputs' must be an object naming the inputs {names}")
    out = server.run(v, sig_name, inputs)
    return {"outputs": rest_value(*next(iter(out.items()))) if len(out) == 1 else
            {k: rest_value(k, a) for k, a in out.items()}}, (inputs, out)


def _classify_regress(server: Any, v: Any, sig_name: str, req: Dict[str, Any], kind: str) -> Tuple[Dict[str, Any], Any]:
    TF = server.tf
    examples = req.get("examples")
    if not isinstance(examples, list) or not examples:
        raise ServingError("'examples' must be a non-empty list of feature objects")
    context = req.get("context") or {}
    serialized = []
    for ex in examples:
        if not isinstance(ex, dict):
            raise ServingError("each example must be an object of feature values")
        serialized.append(to_example(TF, {**context, **ex}).SerializeToString())
    sig = sig_name or "serving_default"   # TF Serving's default for every API
    out = server.run(v, sig, {single_input(v, sig, kind): serialized})
    logged = ({"examples": serialized}, out)
    if kind == "classify":
        return {"results": [[[label, score] for label, score in row] for row in classifications(out)]}, logged
    values = out.get("outputs", next(iter(out.values())))
    return {"results": [float(x) for x in values.reshape(-1)]}, logged
