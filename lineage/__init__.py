"""lineage: experiment and artifact lineage for TensorFlow pipelines, on ML Metadata.

Record with ``@step`` and ``with run(...)``; query with ``Lineage.open()``. See README.md.
This package never imports TensorFlow.
"""

from __future__ import annotations

from . import types
from .api import Lineage, use
from .errors import LineageError
from .record import (Run, Step, StepResult, annotate, attach_context, current_run, log_metric, log_metrics, record,
                     run, step)
from .records import Artifact, Context, Event, Execution
from .types import ArtifactType, Input, Output, OutputArtifact, declare_artifact_type
from .version import __version__ as __version__

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
    "run",
    "step",
    "types",
    "use",
]
