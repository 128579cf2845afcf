"""TF Serving's gRPC API: PredictionService (Predict, Classify, Regress, MultiInference,
GetModelMetadata) and ModelService (GetModelStatus, HandleReloadConfigRequest), as module-level
service classes over a
:class:`~lineage.serving.server.core.ModelServer`. Importing this module imports TensorFlow
(TF Serving's messages embed its tensor protos)."""

from __future__ import annotations

import errno
import functools
import time
from concurrent import futures
from typing import Any, Dict, List, Optional, Tuple

import grpc
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2, inference_pb2,
                                     model_management_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from .codec import classifications, single_input, tensor_to_array, typed_tensor_proto
from .errors import ServingError
from .ports import check_port_free
from .savedmodel import check_inputs

__all__ = ["PredictionService", "ModelService", "start_grpc", "fill_classifications", "fill_regressions"]


def _abort(context: Any, err: ServingError) -> None:
    context.abort(getattr(grpc.StatusCode, err.code), str(err))


def _dtype(TF: Any, enum: int) -> str:
    """TensorFlow's DataTypeString (float, double, int64...), as TF Serving's messages name types."""
    name = TF.dtypes.as_dtype(enum).name if enum else "invalid"
    return {"float32": "float", "float64": "double"}.get(name, name)


def _known_dtypes() -> frozenset:
    from tensorflow.core.framework import types_pb2

    return frozenset(types_pb2.DataType.values())


_KNOWN_DTYPES = _known_dtypes()


def _answer_spec(spec: Any, name: str, version: Any, signature: str) -> None:
    spec.name, spec.version.value, spec.signature_name = name, version.number, signature


def fill_classifications(result: Any, out: Dict[str, Any]) -> None:
    for row in classifications(out):
        c = result.classifications.add()
        for label, score in row:
            c.classes.add(label=label, score=score)


def fill_regressions(result: Any, out: Dict[str, Any]) -> None:
    for value in out.get("outputs", next(iter(out.values()))).reshape(-1):
        result.regressions.add(value=float(value))


def _spec_of(ms: Any) -> Tuple[str, Optional[int], Optional[str]]:
    version = ms.version.value if ms.HasField("version") else None
    label = ms.version_label or None
    return ms.name, version, label


def _counted(api: str) -> Any:
    """Count a gRPC method's requests, their status and time in the server's metrics."""
    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def run(self: Any, request: Any, context: Any) -> Any:
            started, status = time.perf_counter(), "OK"
            try:
                response = method(self, request, context)
                if response is not None:   # answered: a sample of it goes to the model's request log
                    self.server.log_grpc(api, request, response)
                return response
            except Exception:
                status = "ERROR"
                raise
            finally:
                spec = request.tasks[0].model_spec if api == "MultiInference" and request.tasks else request.model_spec
                self.server.metrics.observe(spec.name, api, status, started)
        return run
    return wrap


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress and GetModelMetadata."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.TF = server.tf

    @_counted("Predict")
    def Predict(self, request, context):
        try:
            name, version, label = _spec_of(request.model_spec)
            v = self.server.resolve(name, version, label)
            key, sd = self.server.signature(v, request.model_spec.signature_name)
            check_inputs(sd, request.inputs)
            for k, t in request.inputs.items():
                if t.dtype not in _KNOWN_DTYPES:
                    raise ServingError(f"tensor parsing error: {k}: unknown dtype {t.dtype}")
                if t.dtype != sd.inputs[k].dtype:
                    raise ServingError(f"Expects arg[{k}] to be {_dtype(self.TF, sd.inputs[k].dtype)} but "
                                       f"{_dtype(self.TF, t.dtype)} is provided")
            outputs = set(sd.outputs)
            seen = set()
            for alias in request.output_filter:
                if alias not in outputs:
                    raise ServingError(f"output tensor alias not found in signature: {alias} Outputs "
                                       f"expected to be in the set {{{','.join(sorted(outputs))}}}.")
                if alias in seen:
                    raise ServingError(f"duplicate output tensor alias: {alias}")
                seen.add(alias)
            inputs = {k: tensor_to_array(self.TF, t, self.server.max_tensor_bytes, k)
                      for k, t in request.inputs.items()}
            out = self.server.run(v, key, inputs, list(request.output_filter) or None)
            resp = predict_pb2.PredictResponse()
            resp.model_spec.name = name
            resp.model_spec.version.value = v.number
            resp.model_spec.signature_name = key
            for k, arr in out.items():
                resp.outputs[k].CopyFrom(typed_tensor_proto(self.TF, arr))
            return resp
        except ServingError as err:
            _abort(context, err)

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

    def _run_examples(self, spec: Any, examples: List[bytes], kind: str):
        """Resolve ``spec`` and run its signature over serialized tf.Examples: ``(version,
        signature name, outputs)``, with the response's model spec filled by :func:`_answer_spec`."""
        name, version, label = _spec_of(spec)
        v = self.server.resolve(name, version, label)
        sig = spec.signature_name or "serving_default"   # TF Serving's default for every API
        return v, sig, self.server.run(v, sig, {single_input(v, sig, kind): examples})

    @_counted("Classify")
    def Classify(self, request, context):
        try:
            v, sig, out = self._run_examples(request.model_spec, self._examples(request), "classify")
            resp = classification_pb2.ClassificationResponse()
            _answer_spec(resp.model_spec, request.model_spec.name, v, sig)
            fill_classifications(resp.result, out)
            return resp
        except ServingError as err:
            _abort(context, err)

    @_counted("Regress")
    def Regress(self, request, context):
        try:
            v, sig, out = self._run_examples(request.model_spec, self._examples(request), "regress")
            resp = regression_pb2.RegressionResponse()
            _answer_spec(resp.model_spec, request.model_spec.name, v, sig)
            fill_regressions(resp.result, out)
            return resp
        except ServingError as err:
            _abort(context, err)

    @_counted("MultiInference")
    def MultiInference(self, request, context):
        """Classify and regress tasks over one set of tf.Examples, on one model (TF Serving's rule)."""
        fill = {"tensorflow/serving/classify": lambda r, out: fill_classifications(r.classification_result, out),
                "tensorflow/serving/regress": lambda r, out: fill_regressions(r.regression_result, out)}
        try:
            if len({t.model_spec.name for t in request.tasks}) != 1:
                raise ServingError("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
            examples = self._examples(request)
            resp = inference_pb2.MultiInferenceResponse()
            for task in request.tasks:
                if task.method_name not in fill:
                    raise ServingError(f"Unsupported signature method_name: {task.method_name}")
                v, sig, out = self._run_examples(task.model_spec, examples, task.method_name.rsplit("/", 1)[-1])
                result = resp.results.add()
                _answer_spec(result.model_spec, task.model_spec.name, v, sig)
                fill[task.method_name](result, out)
            return resp
        except ServingError as err:
            _abort(context, err)

    @_counted("GetModelMetadata")
    def GetModelMetadata(self, request, context):
        try:
            name, version, label = _spec_of(request.model_spec)
            if not request.metadata_field:   # get_model_metadata_impl.cc
                raise ServingError("GetModelMetadataRequest must specify at least one metadata_field")
            for field in request.metadata_field:
                if field != "signature_def":
                    raise ServingError(f"Metadata field {field} is not supported")
            v = self.server.resolve(name, version, label)
            resp = get_model_metadata_pb2.GetModelMetadataResponse()
            resp.model_spec.name, resp.model_spec.version.value = name, v.number
            sigmap = get_model_metadata_pb2.SignatureDefMap()
            for k, sd in v.signature_defs.items():  # all of them, __saved_model_init_op too (as TF Serving)
                sigmap.signature_def[k].CopyFrom(sd)
            resp.metadata["signature_def"].Pack(sigmap)
            return resp
        except ServingError as err:
            _abort(context, err)

class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def GetModelStatus(self, request, context):
        try:
            name, version, label = _spec_of(request.model_spec)
            if label:
                version = self.server.label_version(name, label)
            resp = get_model_status_pb2.GetModelStatusResponse()
            for v in self.server.status(name, version):
                s = resp.model_version_status.add(version=v.number, state=v.state)
                if v.error:
                    s.status.error_code = grpc.StatusCode[v.error_code].value[0]
                    s.status.error_message = v.error
            return resp
        except ServingError as err:
            _abort(context, err)

    def HandleReloadConfigRequest(self, request, context):
        # model_service_impl.cc: the error goes in response.status *and* is the call's gRPC status
        # (so a client sees an RpcError; the response itself is not sent with a non-OK status)
        resp = model_management_pb2.ReloadConfigResponse()
        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise ServingError("ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                                   "ModelConfigList is currently supported")
            self.server.reload_config(request.config)
        except ServingError as err:
            _abort(context, err)
        except Exception as exc:
            _abort(context, ServingError(f"{type(exc).__name__}: {str(exc)[:500]}", "INTERNAL", 500))
        return resp


def start_grpc(server: Any, *, start: bool = True) -> Any:
    """A gRPC server for ``server`` on its host and gRPC port (0 picks a free port, written back
    to ``server.grpc_port``), bound, and serving unless ``start=False`` (then call ``.start()``).
    A port in use is an ``OSError`` naming it, before gRPC prints anything."""
    check_port_free(server.host, server.grpc_port, "gRPC")
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=server.workers),
                      options=[("grpc.max_receive_message_length", server.max_request_bytes),
                               ("grpc.so_reuseport", 0), *server.grpc_options])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(server), srv)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(server), srv)
    try:
        port = srv.add_insecure_port(f"{server.host}:{server.grpc_port}")
    except RuntimeError:   # grpcio >= 1.60 raises where older ones returned 0
        port = 0
    if port == 0:
        raise OSError(errno.EADDRINUSE, f"cannot listen for gRPC on {server.host}:{server.grpc_port} (in use?)")
    server.grpc_port = port
    if server.grpc_socket_path:
        try:
            ok = srv.add_insecure_port(f"unix:{server.grpc_socket_path}")
        except RuntimeError:
            ok = 0
        if not ok:
            srv.stop(None)
            raise OSError(errno.EADDRINUSE, f"cannot listen for gRPC on the Unix socket {server.grpc_socket_path}")
    if start:
        srv.start()
    return srv
