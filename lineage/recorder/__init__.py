"""Recording: ``@step``, runs, ``record()``, taint marks, all on one primitive
(:class:`~lineage.recorder.recording.Recording`).

==================  ===========================================================================
``current``         which store recording goes to now; the active run
``recording``       the recording primitive; ``annotate`` / ``attach_context`` from a step body
``artifacts``       registering external data, resolving a step's inputs
``step``            ``@step`` (sync and async)
``metrics``         ``log_metric`` / ``log_metrics``: a step's metric histories (``Metrics``)
``capture``         what a step prints and logs, kept as its ``StepLog``
``tags``            tags and notes after the fact, every change recorded
``runs``            ``with run(...)``: Pipeline, PipelineRun and Experiment contexts
``manual``          ``record()``: a step run that happened elsewhere
``bulk``            ``record_many()``: many step runs, a batch per MLMD transaction
``marks``           taint / untaint
``repair``          ``lineage doctor --fix``: settle or close abandoned RUNNING rows
==================  ===========================================================================
"""

from __future__ import annotations

from .artifacts import register, resolve_artifact
from .current import as_store, current_store, use_store
from .manual import record
from .bulk import Recorded, record_many
from .marks import taint, untaint
from . import tags  # noqa: F401  (lineage.recorder.tags)
from .repair import repair
from .recording import Recording, annotate, log_metric, log_metrics, attach_context, current_execution_id, record_intent
from .runs import Run, current_run, run
from .step import Step, StepResult, step

__all__ = ["log_metric", "log_metrics", "register", "resolve_artifact", "as_store", "current_store", "use_store", "record", "record_many", "Recorded", "taint",
           "untaint", "repair", "Recording", "annotate", "attach_context", "current_execution_id", "record_intent", "Run",
           "current_run", "run", "Step", "StepResult", "step"]
