"""One loaded SavedModel version, loaded and run the way TF Serving does: the MetaGraph tagged
``serve`` imported into its own graph and session (TensorFlow's v1 loader, which reads TF1 and TF2
SavedModels alike), signatures read from its ``SignatureDef`` map, and each request run as one
session call that feeds the signature's input tensors and fetches its output tensors.

Tensors go in as sent: like TF Serving, the server does not check a request's shapes against a
signature's declared shapes (``{"instances": [1.0, 2.0]}`` for an ``x`` declared ``[None, 1]``
runs); the graph's own kernels refuse what they cannot compute. The session call goes through
``Session::MakeCallable`` (one callable per signature and output set), which feeds tensors without
the Python client's static-shape check and costs tens of microseconds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from .errors import ServingError

__all__ = ["LoadedModel", "load_saved_model", "PREDICT", "CLASSIFY", "REGRESS"]

PREDICT, CLASSIFY, REGRESS = "tensorflow/serving/predict", "tensorflow/serving/classify", "tensorflow/serving/regress"
SERVE_TAG = "serve"


class LoadedModel:
    """A SavedModel version in its own graph and session."""

    def __init__(self, TF: Any, session: Any, meta_graph: Any, remote: Any = None) -> None:
        self.TF = TF
        self.session = session
        self._defs = meta_graph.signature_def   # name -> SignatureDef (with __saved_model_init_op)
        #: a head's remote part (server.remote.RemotePart), None for a model served whole
        self.remote = remote
        # what clients see: a head's signatures without the inputs its module's answer feeds,
        # and without its prepare signatures (so a head answers what the undivided model did)
        self.signature_defs = self._defs if remote is None else _client_view(self._defs, remote.spec)
        self._callables: Dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def signature(self, name: str) -> Any:
        """The SignatureDef called ``name`` (``serving_default`` when empty); FAILED_PRECONDITION
        when the model has none of that name (TF Serving's status and wording)."""
        key = name or "serving_default"
        sd = self.signature_defs.get(key)
        if sd is None or key.startswith("__"):
            raise ServingError(f'Serving signature key "{key}" not found.', "FAILED_PRECONDITION", 400)
        return sd

    def numpy_dtype(self, info: Any) -> Any:
        return self.TF.dtypes.as_dtype(info.dtype).as_numpy_dtype

    def run(self, name: str, feeds: Dict[str, Any], outputs: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """Run signature ``name`` on ``feeds`` (alias -> numpy array); returns alias -> numpy array
        for ``outputs`` (all of the signature's outputs when None)."""
        sd = self.signature(name)
        check_inputs(sd, feeds)
        key = name or "serving_default"
        if self.remote is not None and key in self.remote.spec.signatures:
            # a head: prepare what the module takes, ask the module's server, then run the head
            route = self.remote.spec.signatures[key]
            prepared = self._call(route.prepare, self._defs[route.prepare], feeds, sorted(route.send))
            feeds = {**feeds, **self.remote.fetch(self.TF, key, prepared)}
            sd = self._defs[key]
        return self._call(key, sd, feeds, sorted(outputs) if outputs else sorted(sd.outputs))

    def _call(self, key: str, sd: Any, feeds: Dict[str, Any], aliases: Sequence[str]) -> Dict[str, Any]:
        in_aliases = sorted(feeds)
        fn = self._callable(key, sd, tuple(in_aliases), tuple(aliases))
        try:
            values = fn(*[feeds[a] for a in in_aliases])
        except self.TF.errors.OpError as exc:
            raise ServingError(exc.message.splitlines()[0][:500] if exc.message else type(exc).__name__,
                               _grpc_code(exc), 400 if _grpc_code(exc) == "INVALID_ARGUMENT" else 500) from None
        except (TypeError, ValueError) as exc:  # a value numpy/TF cannot turn into the input's dtype
            raise ServingError(str(exc).splitlines()[0][:500]) from None
        return dict(zip(aliases, values))

    def _callable(self, key: str, sd: Any, in_aliases: tuple, out_aliases: tuple) -> Any:
        cache_key = (key, in_aliases, out_aliases)
        fn = self._callables.get(cache_key)
        if fn is None:
            from tensorflow.core.protobuf import config_pb2

            options = config_pb2.CallableOptions(feed=[sd.inputs[a].name for a in in_aliases],
                                                 fetch=[sd.outputs[a].name for a in out_aliases])
            with self._lock:
                fn = self._callables.get(cache_key)
                if fn is None:
                    # Session::MakeCallable: feeds without the Python client's static-shape check,
                    # as TF Serving's Session::Run does
                    fn = self.session._make_callable_from_options(options)
                    self._callables[cache_key] = fn
        return fn

    def close(self) -> None:
        with self._lock:
            self._callables.clear()
        self.session.close()


def _client_view(defs: Any, spec: Any) -> Dict[str, Any]:
    """A head's SignatureDef map as clients see it (see :class:`LoadedModel`)."""
    view: Dict[str, Any] = {}
    for key, sd in defs.items():
        if key in spec.prepare_signatures:
            continue
        fed = spec.fed_inputs(key)
        if fed:
            sd = type(sd).FromString(sd.SerializeToString())
            for alias in fed:
                del sd.inputs[alias]
        view[key] = sd
    return view


def check_inputs(sd: Any, feeds: Dict[str, Any]) -> None:
    """TF Serving's rule: the request names exactly the signature's inputs."""
    sent, wanted = set(feeds), set(sd.inputs)
    if sent != wanted:
        raise ServingError(
            f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{','.join(sorted(sent))}}}) != "
            f"len({{{','.join(sorted(wanted))}}}). Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - sent))}}}.")


_CODES = {"InvalidArgumentError": "INVALID_ARGUMENT", "FailedPreconditionError": "FAILED_PRECONDITION",
          "NotFoundError": "NOT_FOUND", "ResourceExhaustedError": "RESOURCE_EXHAUSTED",
          "UnimplementedError": "UNIMPLEMENTED", "OutOfRangeError": "OUT_OF_RANGE"}


def _grpc_code(exc: Exception) -> str:
    return _CODES.get(type(exc).__name__, "INTERNAL")


def load_saved_model(TF: Any, path: str, tags: Sequence[str] = (SERVE_TAG,),
                     remote: Optional[Callable[[Any], Any]] = None) -> LoadedModel:
    """Load the SavedModel at ``path`` as TF Serving does. Raises ``ServingError`` (with TF
    Serving's wording) when the folder holds no SavedModel. A head (a split model, whose
    ``assets.extra/lineage_remote.json`` declares its remote part) is loaded with
    ``remote(spec)`` as its remote part; without ``remote`` a head cannot load."""
    if not any(Path(path, f).exists() for f in ("saved_model.pb", "saved_model.pbtxt")):
        raise ServingError(f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}",
                           "NOT_FOUND", 404)
    from ..remote import read_remote_spec
    from ...errors import InvalidInput

    try:
        spec = read_remote_spec(path)
    except InvalidInput as exc:
        raise ServingError(str(exc), "FAILED_PRECONDITION", 400) from None
    if spec is not None and remote is None:
        raise ServingError(f"{path} is a head whose part {spec.remote.wanted} runs on another server: "
                           f"this loader cannot call it", "FAILED_PRECONDITION", 400)
    graph = TF.Graph()
    session = TF.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():
            meta_graph = TF.compat.v1.saved_model.loader.load(session, list(tags), path)
    except BaseException:
        session.close()
        raise
    model = LoadedModel(TF, session, meta_graph, remote(spec) if spec is not None else None)
    if spec is not None:
        missing = [f"{k} (prepare {r.prepare})" for k, r in spec.signatures.items()
                   if k not in model._defs or r.prepare not in model._defs]
        if missing:
            session.close()
            raise ServingError(f"{path}: its remote declaration names signatures it does not have: "
                               f"{', '.join(missing)}", "FAILED_PRECONDITION", 400)
    return model
