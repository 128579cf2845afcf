"""A head's remote part, run by the model server: gRPC ``Predict`` to the module's server.

One :class:`RemoteCalls` per model server holds a channel per module server (every head calling
one module server shares it, so the module server's batching sees their requests together),
the address overrides given at start (``lineage serve --remote MODEL=HOST:PORT``), and which
module version answered each head version (counted, and reported through ``on_answer``
each time the answering version changes so that lineage records it).

A remote part that fails (its server down or too slow, its model not loaded there, a refusal) is
the head's request failing with ``UNAVAILABLE`` (HTTP 503), TF Serving's status for a servable
that cannot answer now, naming the remote model, its server and the cause.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from ..remote import RemoteCall, RemoteSpec
from .codec import tensor_to_array, typed_tensor_proto
from .errors import ServingError

__all__ = ["RemoteCalls", "RemotePart"]

log = logging.getLogger("lineage.serving")
_MAX_MESSAGE = 256 << 20


class RemoteCalls:
    """The server's remote calls: channels, address overrides, and who answered whom."""

    def __init__(self, overrides: Optional[Dict[str, str]] = None,
                 on_answer: Optional[Callable[[str, int, str, int, str], None]] = None) -> None:
        self.overrides = dict(overrides or {})       # module model name -> HOST:PORT
        self.on_answer = on_answer                   # (head, head version, module, module version, server)
        self._channels: Dict[str, Any] = {}
        self._lock = threading.Lock()
        #: (head, head version) -> {(module, module version): answered calls}
        self.answered: Dict[Tuple[str, int], Dict[Tuple[str, int], int]] = {}
        self._last: Dict[Tuple[Tuple[str, int], str], int] = {}

    def target(self, call: RemoteCall) -> str:
        return self.overrides.get(call.model, call.server)

    def _rpc(self, target: str) -> Any:
        import grpc
        from tensorflow_serving.apis import predict_pb2

        with self._lock:
            rpc = self._channels.get(target)
            if rpc is None:
                channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", _MAX_MESSAGE),
                                                                 ("grpc.max_send_message_length", _MAX_MESSAGE)])
                rpc = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                          request_serializer=predict_pb2.PredictRequest.SerializeToString,
                                          response_deserializer=predict_pb2.PredictResponse.FromString)
                self._channels[target] = rpc
        return rpc

    def predict(self, TF: Any, head: Tuple[str, int], call: RemoteCall, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """Send ``inputs`` (alias -> numpy) to ``call``'s model; its outputs as numpy arrays."""
        import grpc
        from tensorflow_serving.apis import predict_pb2

        target = self.target(call)
        req = predict_pb2.PredictRequest()
        req.model_spec.name = call.model
        if call.version is not None:
            req.model_spec.version.value = call.version
        elif call.label:
            req.model_spec.version_label = call.label
        req.model_spec.signature_name = call.signature
        for alias, value in inputs.items():
            req.inputs[alias].CopyFrom(typed_tensor_proto(TF, value))
        try:
            resp = self._rpc(target)(req, timeout=call.timeout_ms / 1000.0)
        except grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            why = ("did not answer within %d ms" % call.timeout_ms) if code == "DEADLINE_EXCEEDED" else \
                f"answered {code}: {(exc.details() or '').splitlines()[0][:300] if exc.details() else ''}"
            raise ServingError(f"remote part of {head[0]} version {head[1]} unavailable: {call.wanted} on "
                               f"{target} {why}", "UNAVAILABLE", 503) from None
        answered = int(resp.model_spec.version.value)
        self._count(head, call, target, answered)
        try:
            return {k: tensor_to_array(TF, t, _MAX_MESSAGE, k) for k, t in resp.outputs.items()}
        except ServingError as exc:
            raise ServingError(f"remote part of {head[0]} version {head[1]}: {call.wanted} on {target} answered a "
                               f"tensor this server cannot read: {exc}", "UNAVAILABLE", 503) from None


    def _count(self, head: Tuple[str, int], call: RemoteCall, target: str, answered: int) -> None:
        key = (call.model, answered)
        with self._lock:
            seen = self.answered.setdefault(head, {})
            seen[key] = seen.get(key, 0) + 1
            # reported when the answering version changes (a module rolled back and forth is
            # reported each time), not per call
            new = self._last.get((head, call.model)) != answered
            self._last[(head, call.model)] = answered
        if new and self.on_answer is not None:
            try:
                self.on_answer(head[0], head[1], call.model, answered, target)
            except Exception:   # recording must never fail a request
                log.warning("could not report %s:%s answered by %s:%s", head[0], head[1], call.model, answered,
                            exc_info=True)

    def counts(self, head: str, version: int) -> Dict[Tuple[str, int], int]:
        """``{(module, module version): calls answered}`` of one head version, so far."""
        with self._lock:
            return dict(self.answered.get((head, version), {}))


class RemotePart:
    """One loaded head version's remote part: its declaration and the server's calls."""

    def __init__(self, spec: RemoteSpec, calls: RemoteCalls, head: Tuple[str, int]) -> None:
        self.spec, self.calls, self.head = spec, calls, head

    def fetch(self, TF: Any, signature: str, prepared: Dict[str, Any]) -> Dict[str, Any]:
        """What the module answers for ``prepared`` (prepare's outputs), as ``signature``'s inputs."""
        route = self.spec.signatures[signature]
        sent = {module_alias: prepared[own] for own, module_alias in route.send.items()}
        answer = self.calls.predict(TF, self.head, self.spec.remote, sent)
        missing = [a for a in route.receive if a not in answer]
        if missing:
            raise ServingError(f"remote part of {self.head[0]} version {self.head[1]}: {self.spec.remote.wanted} "
                               f"answered without {', '.join(missing)}", "UNAVAILABLE", 503)
        return {fed: answer[module_alias] for module_alias, fed in route.receive.items()}
