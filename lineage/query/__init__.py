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
import sys
import types as _types
from typing import TYPE_CHECKING, Any

#: public name -> the submodule that defines it
_WHERE = {
    "Diff": "diff", "diff": "diff",
    "find": "find",
    "LineageGraph": "graph", "Shape": "graph", "shape": "graph", "sketch": "graph", "trace": "graph",
    "Walk": "traversal", "walk": "traversal",
    "Finding": "health", "HealthReport": "health", "check_health": "health",
    "Impact": "impact", "ImpactedPush": "impact", "impact": "impact",
    "consumers": "nodes", "inputs": "nodes", "outputs": "nodes", "producers": "nodes",
    "Provenance": "provenance", "Verdicts": "provenance", "provenance": "provenance", "verdicts": "provenance",
    "lookup": "resolve", "parse_when": "resolve", "pushed_of": "resolve", "pushed_version": "resolve",
    "ServerLease": "leases", "all_leases": "leases",
    "ServingEvent": "serving", "ServingGraph": "serving", "ServingState": "serving", "endpoint_names": "serving", "last_change": "serving", "leases_for": "serving", "observed_state": "serving", "replay": "serving", "replay_steps": "serving", "served_at": "serving", "serving_graph": "serving", "serving_history": "serving", "serving_now": "serving",
    "as_artifact": "subject", "check_context": "subject", "check_type": "subject", "near": "subject", "resolve_node": "subject", "resolve_served": "subject",
    "TaintRecord": "taint", "tainted": "taint", "tainted_upstream": "taint",
    "VerifyReport": "verify", "verify": "verify",
    "pull": "pull",
}

__all__ = ["experiments", "predictions", "run_or_node",
    "Diff", "diff", "find", "Finding", "HealthReport", "check_health", "LineageGraph", "Shape", "Walk", "walk", "shape", "sketch", "trace", "Impact", "ImpactedPush", "impact",
    "Provenance", "provenance", "Verdicts", "verdicts", "lookup", "parse_when", "pushed_of", "pushed_version", "ServingEvent",
    "ServingState", "ServingGraph", "serving_graph", "endpoint_names", "last_change", "observed_state", "leases_for", "ServerLease", "all_leases", "replay", "replay_steps", "served_at", "serving_history", "serving_now",
    "as_artifact", "resolve_served", "resolve_node", "check_type", "check_context", "near", "consumers", "inputs", "outputs", "producers", "TaintRecord", "tainted", "tainted_upstream", "VerifyReport", "verify", "pull",
]


def __getattr__(name: str) -> Any:
    """Each query's module is imported when the query is first used (PEP 562): ``lineage
    provenance`` does not pay for diff, health, search or the experiments table."""
    if name in ("experiments", "predictions"):   # modules: their names are theirs
        return importlib.import_module(f"{__name__}.{name}")
    where = "experiments" if name == "run_or_node" else _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value   # once: later uses are plain attribute reads
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """The import system binds a submodule on its package when the submodule is first
    imported. Where a query and its module share a name (``diff``, ``find``, ``impact``,
    ``provenance``, ``pull``, ``verify``), the package's name stays the query's."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _types.ModuleType) and _WHERE.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # what type checkers and IDEs see
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
