"""A client for TF Serving's ModelService (gRPC) with REST as the fallback for status.

The same calls drive a real TensorFlow Serving fleet and the local server. It imports no
TensorFlow: the messages are TF Serving's, declared wire-compatibly in :mod:`.wire`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, List, Optional, Tuple

from ..errors import LineageError
from .states import state_name

__all__ = ["ServingClient", "ServerUnreachable"]

class ServerUnreachable(LineageError, ConnectionError):
    """Neither the gRPC nor the REST port of the model server answered."""


class ServingClient:
    """``grpc_target`` is ``host:port`` (TF Serving's 8500); ``rest_url`` its REST base (8501)."""

    def __init__(self, grpc_target: str = "127.0.0.1:8500", rest_url: Optional[str] = "http://127.0.0.1:8501",
                 timeout: float = 5.0) -> None:
        self.grpc_target = grpc_target
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self.timeout = timeout
        self._channel: Any = None

    def _call(self, method: str, request: Any, response_name: str) -> Any:
        import grpc

        from .wire import MODEL_SERVICE, messages

        if self._channel is None:
            self._channel = grpc.insecure_channel(self.grpc_target)
        rpc = self._channel.unary_unary(MODEL_SERVICE + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=messages()[response_name].FromString)
        return rpc(request, timeout=self.timeout)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def reload_config(self, config: Any) -> None:
        """HandleReloadConfigRequest. Raises ServerUnreachable, or LineageError if refused."""
        import grpc

        from .wire import messages

        req = messages()["ReloadConfigRequest"]()
        req.config.CopyFrom(config)
        try:
            resp = self._call("HandleReloadConfigRequest", req, "ReloadConfigResponse")
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ServerUnreachable(f"the model server at {self.grpc_target} did not answer "
                                        f"({exc.code().name})") from None
            raise LineageError(f"the model server refused the new config: {exc.details()}") from None
        if resp.status.error_code:
            raise LineageError(f"the model server refused the new config: {resp.status.error_message}")

    def status(self, name: str, version: Optional[int] = None) -> List[Tuple[int, str, str]]:
        """``[(version, state, error)]`` from GetModelStatus, or REST when gRPC is down."""
        try:
            return self._grpc_status(name, version)
        except ServerUnreachable:
            if not self.rest_url:
                raise
        return self._rest_status(name, version)

    def _grpc_status(self, name: str, version: Optional[int]) -> List[Tuple[int, str, str]]:
        import grpc

        from .wire import messages

        req = messages()["GetModelStatusRequest"]()
        req.model_spec.name = name
        if version is not None:
            req.model_spec.version.value = version
        try:
            resp = self._call("GetModelStatus", req, "GetModelStatusResponse")
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return []
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ServerUnreachable(f"the model server at {self.grpc_target} did not answer") from None
            raise LineageError(f"GetModelStatus failed: {exc.details()}") from None
        return [(s.version, state_name(s.state), s.status.error_message)
                for s in resp.model_version_status]

    def _rest_status(self, name: str, version: Optional[int]) -> List[Tuple[int, str, str]]:
        url = f"{self.rest_url}/v1/models/{name}" + (f"/versions/{version}" if version is not None else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r:
                data = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise LineageError(f"GET {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnreachable(f"the model server did not answer on gRPC {self.grpc_target} "
                                    f"nor REST {self.rest_url} ({exc})") from None
        return [(int(s["version"]), s["state"], s.get("status", {}).get("error_message", ""))
                for s in data.get("model_version_status", [])]

    def wait_available(self, name: str, version: int, timeout: float) -> None:
        """Until ``version`` of ``name`` is AVAILABLE. Raises LineageError on a failed load
        (state END with an error) or when ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last = "not reported"
        while True:
            states = {v: (s, e) for v, s, e in self.status(name, version)}
            if version in states:
                state, error = states[version]
                last = state
                if state == "AVAILABLE":
                    return
                if state == "END" and error:
                    raise LineageError(f"the model server could not load {name} version {version}: {error}")
            if time.monotonic() >= deadline:
                raise LineageError(f"{name} version {version} was not AVAILABLE within {timeout:g}s "
                                   f"(last state: {last})")
            time.sleep(0.05)
