"""lineage: experiment and artifact lineage for TensorFlow pipelines, on ML Metadata.

Record with ``@step`` and ``with run(...)``; query with ``Lineage.open()``. See README.md.
This package never imports TensorFlow.
"""

from __future__ import annotations

from . import types
from .api import Lineage, use
from .errors import LineageError
from .records import Artifact, Context, Event, Execution
from .recorder import Step, StepResult, annotate, attach_context, record, step
from .runs import Run, current_run, run
from .types import ArtifactType, Input, Output, OutputArtifact, declare_artifact_type

__version__ = "0.1.0"

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
    "record",
    "run",
    "step",
    "types",
    "use",
]
