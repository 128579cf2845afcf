"""The shared words, written once: execution and artifact states, event directions, step and
artifact roles (lineage's own type names and TFX's), "is this model blessed", "is this URI
local", and how a string is quoted in an ML Metadata filter query.

Every other module asks these questions here, so they get one answer.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from .errors import InvalidInput

__all__ = [
    "EXECUTION_STATES", "ARTIFACT_STATES", "FINISHED_STATES", "INPUT_EVENTS", "OUTPUT_EVENTS",
    "ANNOTATION_TYPES", "METRICS_KEY", "LOG_KEY", "SOURCE_KEY", "BOOKKEEPING", "execution_role", "artifact_role", "type_leaf", "is_blessed", "is_baseline_key", "RUN_CONTEXT_TYPES",
    "is_local", "local_path", "quote", "check_execution_state", "types_of_role",
]

#: MLMD's Execution.State names, in enum order.
EXECUTION_STATES: Tuple[str, ...] = ("UNKNOWN", "NEW", "RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELED")
#: MLMD's Artifact.State names, in enum order.
ARTIFACT_STATES: Tuple[str, ...] = ("UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED",
                                    "ABANDONED", "REFERENCE")
#: States an execution ends in.
FINISHED_STATES: Tuple[str, ...] = ("COMPLETE", "FAILED", "CACHED", "CANCELED")
#: Event types that read an artifact / that make one.
INPUT_EVENTS: Tuple[str, ...] = ("INPUT", "DECLARED_INPUT", "INTERNAL_INPUT")
OUTPUT_EVENTS: Tuple[str, ...] = ("OUTPUT", "DECLARED_OUTPUT", "INTERNAL_OUTPUT", "PENDING_OUTPUT")
#: Execution types that annotate artifacts rather than transform them: left out of graphs.
ANNOTATION_TYPES = frozenset({"Taint", "Untaint", "Tag", "Note"})
#: the output event keys of what lineage itself keeps of a step run: its metric histories and its log
METRICS_KEY = "lineage:metrics"
LOG_KEY = "lineage:log"
#: the input event key of a step's source snapshot (a SourceSnapshot, kept when git cannot give it back)
SOURCE_KEY = "lineage:source"
#: Properties that describe how an artifact was recorded, not what it is.
BOOKKEEPING = frozenset({"fingerprint", "size_bytes", "file_count", "external", "name", "state",
                         "producer_component", "pipeline_name", "tfx_version", "is_external"})


def check_execution_state(state: str) -> str:
    """``state`` upper-cased, or :class:`InvalidInput` naming the states there are."""
    name = str(state).upper()
    if name not in EXECUTION_STATES[1:]:
        raise InvalidInput(f"unknown execution state {state!r}; use one of {', '.join(EXECUTION_STATES[1:])}")
    return name


# ------------------------------------------------------------------------ roles

_EXEC_ROLES: Dict[str, Tuple[str, ...]] = {
    "ingest": ("Ingest", "CsvExampleGen", "ImportExampleGen", "BigQueryExampleGen", "ExampleGen"),
    "transform": ("Transform",),
    "train": ("Train", "Trainer", "Tuner"),
    "evaluate": ("Evaluate", "Evaluator", "ModelValidator"),
    "push": ("Push", "Pusher"),
    "publish": ("PublishModule",),
    "serving": ("Rollback", "Promote", "Unpin"),
}
_ART_ROLES: Dict[str, Tuple[str, ...]] = {
    "dataset": ("Dataset", "ExternalArtifact"),
    "examples": ("Examples",),
    "transform_graph": ("TransformGraph",),
    "hub_module": ("HubModule",),
    "model": ("Model",),
    "evaluation": ("ModelEvaluation",),
    "blessing": ("ModelBlessing",),
    "pushed": ("PushedModel",),
    "predictions": ("PredictionLogs",),
    "web_model": ("WebModel",),
    "source": ("SourceSnapshot",),
}
_ART_ROLE_OF = {name: role for role, names in _ART_ROLES.items() for name in names}


def type_leaf(type_name: str) -> str:
    """The last dotted part of a type name (TFX writes ``tfx.components.trainer.Trainer``)."""
    return type_name.rsplit(".", 1)[-1]


def execution_role(type_name: str) -> Optional[str]:
    """``ingest``, ``transform``, ``train``, ``evaluate``, ``push``, ``publish``, ``serving``."""
    last = type_leaf(type_name)
    for role, names in _EXEC_ROLES.items():
        if last in names or (role == "ingest" and last.endswith("ExampleGen")):
            return role
    return None


#: context types of one pipeline run: ours, and TFX's (``run`` in older TFX, ``pipeline_run`` now)
RUN_CONTEXT_TYPES = ("PipelineRun", "pipeline_run", "run")


def is_baseline_key(key: str) -> bool:
    """An input an evaluator compares against (ours ``baseline``, TFX's ``baseline_model``), not
    the model it evaluates."""
    return "baseline" in (key or "").lower()


def artifact_role(type_name: str) -> Optional[str]:
    """``dataset``, ``examples``, ``transform_graph``, ``hub_module``, ``model``,
    ``evaluation``, ``blessing``, ``pushed``, ``predictions``, ``web_model``, or None."""
    return _ART_ROLE_OF.get(type_name)


# ------------------------------------------------------------------- verdicts


def types_of_role(role: str) -> Tuple[str, ...]:
    """The artifact type names of a role (``pushed``: lineage's PushedModel and TFX's)."""
    return tuple(_ART_ROLES.get(role, ()))


def is_blessed(value: Any) -> Optional[bool]:
    """A ``blessed`` property as a verdict: True, False, or None when nothing was said.

    Lineage records a boolean; TFX writes the integer 1 or 0; text "true"/"yes"/"1" counts.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a path on this machine (a plain path or ``file://``), not gs://, s3://..."""
    text = str(uri)
    return "://" not in text or text.startswith("file://")


def local_path(uri: str) -> str:
    """The path on this machine behind a local URI (``file://`` stripped)."""
    text = str(uri)
    return text[len("file://"):] if text.startswith("file://") else text


def quote(text: Any) -> str:
    """A string literal for an ML Metadata filter query."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"
