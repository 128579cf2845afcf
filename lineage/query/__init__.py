"""Audit queries, store-first and keyword-only past the subject; :class:`lineage.Lineage`
exposes them as methods. Everything reads through :class:`lineage.store.Store`; nothing loads
the whole store. Every report is a frozen dataclass with ``to_dict()``.

==================  ===========================================================================
``traversal``       the one walk along the data (:func:`walk`): events only, past MLMD's hop cap
``graph``           what a walk reached as records (:func:`trace`) or types and states (:func:`shape`)
``resolve``         times, ``Type.at`` look-ups, a served model's PushedModels
``nodes``           an artifact's producers and consumers, an execution's inputs and outputs
``subject``         what a query is about: node reference, ``MODEL:VERSION`` or ``MODEL``
``provenance``      data, transform, modules, parameters, code, evaluation behind a model
``impact``          models, evaluations and served versions downstream of artifacts
``serving``         serving history and the state it adds up to at any time
``diff``            what differs between two models or runs
``filters``/``find``  the ``find`` filter language and search
``search``          one box: a thing by (part of) its name, reference, URI, type or tag
``verify``          re-fingerprint artifacts on disk or object storage
``pull``            restore an artifact's recorded bytes, checked
``taint``           which artifacts are marked bad now
``health``          ``lineage doctor``: abandoned RUNNING rows, missing files, unknown versions
``export``          DOT, node-link JSON, GraphML, OpenLineage
``view``            the explorer's readable graph: fan-out grouped, columns by depth
``experiments``     the runs table, metric histories, step logs, tags and notes
``predictions``     the logged requests of served versions (PredictionLogs), per version
==================  ===========================================================================

Works on stores lineage did not write: TFX's type names are understood by *role*
(:mod:`lineage.vocab`).
"""

from __future__ import annotations

import importlib
from typing import Any

from .diff import Diff, diff
from .find import find
from .graph import LineageGraph, Shape, shape, sketch, trace
from .traversal import Walk, walk
from .health import Finding, HealthReport, check_health
from .impact import Impact, ImpactedPush, impact
from .nodes import consumers, inputs, outputs, producers
from .provenance import Provenance, Verdicts, provenance, verdicts
from .resolve import lookup, parse_when, pushed_of, pushed_version
from .leases import ServerLease, all_leases
from .serving import (ServingEvent, ServingGraph, ServingState, endpoint_names, last_change, leases_for, observed_state,
                      replay, replay_steps, served_at, serving_graph, serving_history, serving_now)
from .subject import as_artifact, check_context, check_type, near, resolve_node, resolve_served
from .taint import TaintRecord, tainted, tainted_upstream
from .verify import VerifyReport, verify
from .pull import pull

__all__ = ["experiments", "predictions", "run_or_node",
    "Diff", "diff", "find", "Finding", "HealthReport", "check_health", "LineageGraph", "Shape", "Walk", "walk", "shape", "sketch", "trace", "Impact", "ImpactedPush", "impact",
    "Provenance", "provenance", "Verdicts", "verdicts", "lookup", "parse_when", "pushed_of", "pushed_version", "ServingEvent",
    "ServingState", "ServingGraph", "serving_graph", "endpoint_names", "last_change", "observed_state", "leases_for", "ServerLease", "all_leases", "replay", "replay_steps", "served_at", "serving_history", "serving_now",
    "as_artifact", "resolve_served", "resolve_node", "check_type", "check_context", "near", "consumers", "inputs", "outputs", "producers", "TaintRecord", "tainted", "tainted_upstream", "VerifyReport", "verify", "pull",
]


def __getattr__(name: str) -> Any:
    """``experiments`` and ``predictions`` (and ``run_or_node``) are imported when first used
    (PEP 562): provenance, impact and the other audit queries do not pay for them."""
    if name in ("experiments", "predictions"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "run_or_node":
        return importlib.import_module(f"{__name__}.experiments").run_or_node
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
