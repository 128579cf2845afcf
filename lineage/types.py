"""Artifact types, and the ``Input[T]`` / ``Output[T]`` annotations of a step.

The built-in types mirror ``schemas/lineage.yaml`` (their properties come from there).
Declare your own by subclassing::

    class Embeddings(ArtifactType):
        \"\"\"Sentence embeddings, one .npy file per shard.\"\"\"
        properties = {"dim": int, "model": str}

or with :func:`declare_artifact_type`. A type is registered in a store the first time it is
used there; adding properties later is fine, changing a property's type is refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Dict, Generic, Mapping, Optional, Type, TypeVar

from .errors import InvalidInput
from .records import Artifact
from .schema import REGISTRY
from .uris import to_uri

__all__ = [
    "ArtifactType", "declare_artifact_type", "Input", "Output", "OutputArtifact",
    "Dataset", "Examples", "Schema", "ExampleStatistics", "TransformGraph", "HubModule",
    "Model", "ModelEvaluation", "ModelBlessing", "PushedModel", "PredictionLogs", "WebModel", "Metrics", "StepLog", "annotation_names",
]

T = TypeVar("T", bound="ArtifactType")


class ArtifactType:
    """Base class of artifact types. A type is a marker: it is never instantiated."""

    type_name: ClassVar[str] = ""
    properties: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name") or cls.__name__
        cls.type_name = name
        declared = cls.__dict__.get("properties")
        if REGISTRY.get("artifact", name) is None or declared:
            REGISTRY.declare("artifact", name, declared, (cls.__doc__ or "").strip())

    def __new__(cls, *args: Any, **kwargs: Any):
        raise TypeError(
            f"{cls.__name__} is an artifact type, not an artifact: use {cls.__name__}.at(uri) "
            f"for existing data, or Output[{cls.__name__}] in a step for data a step writes"
        )

    @classmethod
    def declared(cls) -> Dict[str, Type["ArtifactType"]]:
        """Every artifact type class defined so far, by type name."""
        out: Dict[str, Type[ArtifactType]] = {}
        stack = list(cls.__subclasses__())
        while stack:
            sub = stack.pop()
            out[sub.type_name] = sub
            stack.extend(sub.__subclasses__())
        return out

    @classmethod
    def at(cls, uri: Any, **properties: Any) -> Artifact:
        """Data that already exists at ``uri`` (a path or URL), recorded on first use.

        It is fingerprinted when a step first takes it as an input; recording the same
        unchanged content at the same URI again reuses the stored artifact.
        """
        if uri is None or str(uri) == "":
            raise InvalidInput(f"{cls.__name__}.at() needs a path or URI")
        props = {"external": True}
        props.update(properties)
        return Artifact(id=None, type=cls.type_name, uri=to_uri(uri), properties=props)


def declare_artifact_type(name: str, properties: Optional[Mapping[str, Any]] = None,
                          description: str = "") -> Type[ArtifactType]:
    """Declare an artifact type by name; returns the class to use in ``Input[...]``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInput(f"artifact type name {name!r} must be a Python identifier")
    return type(name, (ArtifactType,), {"properties": dict(properties or {}),
                                        "__doc__": description, "type_name": name})


@dataclasses.dataclass(frozen=True)
class ArtifactArg:
    """What ``Input[T]`` / ``Output[T]`` evaluate to: a direction and an artifact type."""

    direction: str  # "input" | "output"
    artifact_type: Type[ArtifactType]

    @property
    def type_name(self) -> str:
        return self.artifact_type.type_name


def _arg(direction: str, item: Any) -> ArtifactArg:
    if isinstance(item, type) and issubclass(item, ArtifactType):
        return ArtifactArg(direction, item)
    raise InvalidInput(
        f"{direction.capitalize()}[...] takes an artifact type such as Dataset or a subclass of "
        f"lineage.types.ArtifactType, not {item!r}"
    )


class Input(Generic[T]):
    """``Input[Dataset]``: the argument is an input artifact (a record, an id or a URI)."""

    def __class_getitem__(cls, item: Any) -> ArtifactArg:  # type: ignore[override]
        return _arg("input", item)


class Output(Generic[T]):
    """``Output[Model]``: the recorder allocates the artifact and passes an :class:`OutputArtifact`."""

    def __class_getitem__(cls, item: Any) -> ArtifactArg:  # type: ignore[override]
        return _arg("output", item)


class OutputArtifact:
    """What a step body receives for an ``Output[T]`` argument.

    Write a file or create a directory at :attr:`path`; set :attr:`properties` to record
    more about it (declared properties of the type, or any custom ones). To write it somewhere
    lineage did not choose (a module registry, a serving directory), set :attr:`uri` first.
    """

    __slots__ = ("type", "uri", "name", "properties")

    def __init__(self, type: str, uri: str, name: str) -> None:
        self.type = type
        self.uri = uri
        self.name = name
        self.properties: Dict[str, Any] = {}

    @property
    def path(self) -> Path:
        return Path(self.uri)

    def __fspath__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"OutputArtifact({self.type}, {self.uri!r})"


class Dataset(ArtifactType):
    """Raw data as it arrived (a file or a directory)."""


class Examples(ArtifactType):
    """tf.Example TFRecord files, split (train/eval)."""


class Schema(ArtifactType):
    """A tensorflow-metadata schema."""


class ExampleStatistics(ArtifactType):
    """Summary statistics of a dataset, per split and feature."""


class TransformGraph(ArtifactType):
    """The output directory of a tf.Transform analysis."""


class HubModule(ArtifactType):
    """A versioned, immutable TF-Hub module."""


class Model(ArtifactType):
    """A trained SavedModel."""


class ModelEvaluation(ArtifactType):
    """A TensorFlow Model Analysis output."""


class ModelBlessing(ArtifactType):
    """The verdict of an evaluation against its thresholds."""


class PushedModel(ArtifactType):
    """A model version laid out for serving."""


class PredictionLogs(ArtifactType):
    """Sampled requests and answers a model server logged (PredictionLog TFRecords)."""


class WebModel(ArtifactType):
    """A TensorFlow.js graph model folder converted from a module or model (lineage.components.web)."""


class Metrics(ArtifactType):
    """The metric histories a step logged (written by lineage, not by step bodies)."""


class StepLog(ArtifactType):
    """What a step printed and logged, and its traceback when it failed (written by lineage)."""


def annotation_names() -> Dict[str, Any]:
    """The names a step's annotations may use without importing them (``Input``, ``Dataset``...)."""
    return {n: globals()[n] for n in __all__ if n != "annotation_names"}
