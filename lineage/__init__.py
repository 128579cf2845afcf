"""lineage: experiment and artifact lineage for TensorFlow pipelines, on ML Metadata.

Record with ``@step`` and ``with run(...)``; query with ``Lineage.open()``. See README.md and docs/.
This package never imports TensorFlow.

Its names are imported when first used (PEP 562), so ``lineage --help`` and other light entry
points do not pay for ML Metadata and the query layer they never touch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__ as __version__

#: public name -> the module that defines it
_WHERE = {
    "Lineage": "lineage.api", "use": "lineage.api",
    "LineageError": "lineage.errors",
    "Run": "lineage.recorder", "Step": "lineage.recorder", "StepResult": "lineage.recorder",
    "annotate": "lineage.recorder", "attach_context": "lineage.recorder", "current_run": "lineage.recorder",
    "log_metric": "lineage.recorder", "log_metrics": "lineage.recorder", "record": "lineage.recorder", "record_many": "lineage.recorder",
    "run": "lineage.recorder", "step": "lineage.recorder",
    "Artifact": "lineage.records", "Context": "lineage.records", "Event": "lineage.records",
    "Execution": "lineage.records",
    "ArtifactType": "lineage.types", "Input": "lineage.types", "Output": "lineage.types",
    "OutputArtifact": "lineage.types", "declare_artifact_type": "lineage.types",
}

__all__ = [
    "Artifact",
    "ArtifactType",
    "Context",
    "Event",
    "Execution",
    "Input",
    "Lineage",
    "LineageError",
    "Output",
    "OutputArtifact",
    "Run",
    "Step",
    "StepResult",
    "annotate",
    "attach_context",
    "current_run",
    "declare_artifact_type",
    "log_metric",
    "log_metrics",
    "record",
    "record_many",
    "run",
    "step",
    "types",
    "use",
]


def __getattr__(name: str) -> Any:
    if name == "types":
        return importlib.import_module("lineage.types")
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'lineage' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value   # once: later uses are plain attribute reads
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see
    from . import types as types
    from .api import Lineage as Lineage, use as use
    from .errors import LineageError as LineageError
    from .recorder import (Run as Run, Step as Step, StepResult as StepResult, annotate as annotate,
                           attach_context as attach_context, current_run as current_run, log_metric as log_metric,
                           log_metrics as log_metrics, record as record, record_many as record_many, run as run,
                           step as step)
    from .records import Artifact as Artifact, Context as Context, Event as Event, Execution as Execution
    from .types import (ArtifactType as ArtifactType, Input as Input, Output as Output,
                        OutputArtifact as OutputArtifact, declare_artifact_type as declare_artifact_type)
