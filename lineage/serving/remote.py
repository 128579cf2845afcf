"""A served head's remote part: the declaration a split model carries, read by the model server.

A model split by :func:`lineage.components.split_model` serves in two parts: its shared module on
a module server, and a *head* that calls that server where the module's output is needed (the
talk's "remote op"). The head's SavedModel holds its declaration in
``assets.extra/lineage_remote.json`` (``assets.extra`` is TF Serving's folder for files beside a
model, as its warm-up requests are)::

    {"format": "lineage.remote/1",
     "remote": {"model": "review-text-encoder", "server": "127.0.0.1:8600",
                "version": null, "label": null, "signature": "serving_default", "timeout_ms": 2000},
     "signatures": {"serving_default": {"prepare": "lineage_remote__serving_default",
                                        "send": {"text": "text"},
                                        "receive": {"embedding": "text_embedding"}}}}

For each listed signature the server runs ``prepare`` (the request's inputs -> what the module
takes), sends its ``send`` outputs (prepare's alias -> the module's input alias) to the module
by gRPC ``Predict``, and feeds the answer's ``receive`` outputs (the module's alias -> the
head signature's input alias) to the head's signature with the request's own inputs. Clients see
the head's signatures without the inputs the module feeds, so a head answers exactly the requests
the undivided model answered. This module reads and checks the declaration; it imports no
TensorFlow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..errors import InvalidInput

__all__ = ["RemoteSpec", "RemoteCall", "SignatureRoute", "REMOTE_FILE", "FORMAT", "read_remote_spec",
           "parse_target", "check_call"]

REMOTE_FILE = Path("assets.extra") / "lineage_remote.json"
FORMAT = "lineage.remote/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RemoteCall:
    """Which model (a version, a label, or the newest) on which server answers a head's remote part."""

    model: str
    server: str
    version: Optional[int] = None
    label: Optional[str] = None
    signature: str = "serving_default"
    timeout_ms: int = 2000

    @property
    def wanted(self) -> str:
        """``review-text-encoder`` / ``...:3`` / ``...@stable``: what the head asks for."""
        return self.model + (f":{self.version}" if self.version is not None else "") + \
            (f"@{self.label}" if self.label else "")

    def as_json(self) -> Dict[str, Any]:
        return {"model": self.model, "server": self.server, "version": self.version, "label": self.label,
                "signature": self.signature, "timeout_ms": self.timeout_ms}


@dataclass(frozen=True)
class SignatureRoute:
    """How one head signature gets its remote inputs: ``prepare`` computes what is sent."""

    prepare: str
    send: Dict[str, str]       # prepare's output alias -> the module's input alias
    receive: Dict[str, str]    # the module's output alias -> this signature's input alias


@dataclass(frozen=True)
class RemoteSpec:
    remote: RemoteCall
    signatures: Dict[str, SignatureRoute] = field(default_factory=dict)

    def as_json(self) -> Dict[str, Any]:
        return {"format": FORMAT, "remote": self.remote.as_json(),
                "signatures": {k: {"prepare": r.prepare, "send": dict(r.send), "receive": dict(r.receive)}
                               for k, r in sorted(self.signatures.items())}}

    def write(self, model_dir: Union[str, Path]) -> Path:
        path = Path(model_dir) / REMOTE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n")
        return path

    def fed_inputs(self, signature: str) -> set:
        """The input aliases of ``signature`` that the module's answer feeds (clients do not send them)."""
        route = self.signatures.get(signature)
        return set(route.receive.values()) if route else set()

    @property
    def prepare_signatures(self) -> set:
        return {r.prepare for r in self.signatures.values()}


def parse_target(text: str, what: str = "server") -> str:
    """``host:port`` (a gRPC target), checked; ``unix:PATH`` passes as is."""
    text = str(text or "").strip()
    if text.startswith("unix:"):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{what} {text!r} is not HOST:PORT (the module server's gRPC address, e.g. 127.0.0.1:8600)")
    return text


def check_call(raw: Any, where: str) -> RemoteCall:
    """A declaration's ``remote`` object, checked (what the server checks when it loads a head)."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: 'remote' must be an object naming the module's model and server")
    model = raw.get("model")
    if not isinstance(model, str) or not _NAME.match(model):
        raise InvalidInput(f"{where}: remote model {model!r} is not a served model's name")
    version, label = raw.get("version"), raw.get("label")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31):
        raise InvalidInput(f"{where}: remote version {version!r} is not a version number")
    if label is not None and (not isinstance(label, str) or not label):
        raise InvalidInput(f"{where}: remote label {label!r} is not a label")
    if version is not None and label is not None:
        raise InvalidInput(f"{where}: name the module's version or its label, not both")
    timeout = raw.get("timeout_ms", 2000)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidInput(f"{where}: timeout_ms {timeout!r} must be a positive number of milliseconds")
    return RemoteCall(model=model, server=parse_target(raw.get("server"), f"{where}: server"),
                      version=version, label=label, signature=str(raw.get("signature") or "serving_default"),
                      timeout_ms=int(timeout))


def spec_from_json(data: Any, where: str = "lineage_remote.json") -> RemoteSpec:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInput(f"{where}: not a {FORMAT} declaration")
    call = check_call(data.get("remote"), where)
    routes = {}
    for name, r in (data.get("signatures") or {}).items():
        if not isinstance(r, dict) or not isinstance(r.get("prepare"), str) \
                or not isinstance(r.get("send"), dict) or not isinstance(r.get("receive"), dict) \
                or not r["send"] or not r["receive"]:
            raise InvalidInput(f"{where}: signature {name!r} needs 'prepare', 'send' and 'receive'")
        routes[str(name)] = SignatureRoute(r["prepare"], {str(k): str(v) for k, v in r["send"].items()},
                                           {str(k): str(v) for k, v in r["receive"].items()})
    if not routes:
        raise InvalidInput(f"{where}: no signature takes the remote part's answer")
    return RemoteSpec(call, routes)


def read_remote_spec(model_dir: Union[str, Path]) -> Optional[RemoteSpec]:
    """The head's declaration in ``model_dir``, or None for a model served whole."""
    path = Path(model_dir) / REMOTE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not readable JSON ({exc})") from None
    return spec_from_json(data, str(path))
