"""Exports of a :class:`LineageGraph`: Graphviz DOT, node-link JSON, GraphML, OpenLineage.

OpenLineage events are built with the ``openlineage-python`` client's own models (imported only
when that export is asked for), one RunEvent per execution, so Marquez or any OpenLineage
consumer can ingest the history.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any, Dict, Iterable, List, Optional, Set

from ..records import Artifact, Execution, iso, utc_from_s
from ..version import __version__
from ..vocab import artifact_role, execution_role, is_local, local_path
from .graph import LineageGraph

__all__ = ["to_dot", "to_node_link", "to_graphml", "to_openlineage", "STYLE", "style_of"]

#: (shape, fill colour) by artifact / execution role; unknown types get the neutral style.
STYLE = {
    "dataset": ("cylinder", "#dbeafe"), "examples": ("cylinder", "#bfdbfe"),
    "transform_graph": ("component", "#e9d5ff"), "hub_module": ("hexagon", "#fde68a"),
    "model": ("box3d", "#bbf7d0"), "evaluation": ("note", "#fef3c7"),
    "blessing": ("note", "#d9f99d"), "pushed": ("doubleoctagon", "#86efac"),
    "ingest": ("box", "#f1f5f9"), "transform": ("box", "#f3e8ff"), "train": ("box", "#dcfce7"),
    "evaluate": ("box", "#fef9c3"), "push": ("box", "#d1fae5"), "publish": ("box", "#fef3c7"),
    "serving": ("box", "#e0f2fe"),
}
NEUTRAL_ARTIFACT = ("ellipse", "#f5f5f5")
NEUTRAL_EXECUTION = ("box", "#f5f5f5")
TAINT_COLOUR = "#fecaca"


def style_of(kind: str, type_name: str) -> tuple:
    role = artifact_role(type_name) if kind == "artifact" else execution_role(type_name)
    if role in STYLE:
        return STYLE[role]
    return NEUTRAL_ARTIFACT if kind == "artifact" else NEUTRAL_EXECUTION


def _dot_str(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def label_of(rec: Any) -> str:
    short = rec.type.rsplit(".", 1)[-1]
    if isinstance(rec, Artifact):
        extra = rec.get("pushed_version") or rec.get("version")
        name = f"{short} v{extra}" if extra is not None else short
        return f"{name}\na{rec.id}"
    return f"{short}\ne{rec.id} {rec.state}"


def downstream_of(graph: LineageGraph, keys: Iterable[str]) -> Set[str]:
    import networkx as nx  # not at import time: the CLI starts without it

    out: Set[str] = set()
    for k in keys:
        if k in graph.graph and k not in out:
            out.add(k)
            out |= nx.descendants(graph.graph, k)
    return out


def to_dot(graph: LineageGraph, *, tainted: Iterable[int] = (), max_nodes: Optional[int] = None) -> str:
    """Graphviz DOT text: shapes and colours by role, tainted nodes and their downstream in
    red, roots drawn bold. ``max_nodes`` keeps the roots and the nodes nearest to them."""
    g = graph.graph
    hot = downstream_of(graph, [f"a{i}" for i in tainted])
    keys = list(g.nodes)
    cut = 0
    if max_nodes is not None and len(keys) > max_nodes:
        import networkx as nx

        und = g.to_undirected(as_view=True)
        dist = nx.multi_source_dijkstra_path_length(und, [r for r in graph.roots if r in g]) \
            if any(r in g for r in graph.roots) else {}
        keys = sorted(keys, key=lambda k: (dist.get(k, 1e9), k))[:max_nodes]
        cut = g.number_of_nodes() - len(keys)
    keep = set(keys)
    lines = ["digraph lineage {", "  rankdir=LR;",
             '  node [style="filled", fontname="Helvetica", fontsize=10];']
    for k in sorted(keep):
        d = g.nodes[k]
        shape, fill = style_of(d["kind"], d["type"])
        attrs = [f"label={_dot_str(label_of(d['record']))}", f"shape={shape}",
                 f'fillcolor="{TAINT_COLOUR if k in hot else fill}"', f"id={_dot_str(k)}"]
        if k in hot:
            attrs.append('color="#dc2626"')
        if k in graph.roots:
            attrs.append("penwidth=2.5")
        lines.append(f"  {_dot_str(k)} [{', '.join(attrs)}];")
    for u, v, d in sorted(g.edges(data=True)):
        if u in keep and v in keep:
            label = f" [label={_dot_str(d['key'])}, fontsize=8]" if d.get("key") else ""
            lines.append(f"  {_dot_str(u)} -> {_dot_str(v)}{label};")
    if cut:
        lines.append(f'  cut [shape=plaintext, label={_dot_str(f"... {cut} more nodes not drawn")}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_dict(key: str, d: Dict[str, Any]) -> Dict[str, Any]:
    rec = d["record"]
    out = {"id": key, "kind": d["kind"], "mlmd_id": rec.id, "type": rec.type,
           "properties": dict(rec.properties), "custom_properties": dict(rec.custom_properties),
           "created": iso(rec.created)}
    if isinstance(rec, Artifact):
        out.update(uri=rec.uri, state=rec.state)
    else:
        out.update(state=rec.state)
    return out


def to_node_link(graph: LineageGraph) -> Dict[str, Any]:
    """The graph as node-link JSON, as networkx's ``node_link_graph`` reads it (its default
    ``edges="edges"`` since networkx 3.4)."""
    g = graph.graph
    return {
        "directed": True, "multigraph": False,
        "graph": {"roots": list(graph.roots), "direction": graph.direction},
        "nodes": [_node_dict(k, d) for k, d in sorted(g.nodes(data=True))],
        "edges": [{"source": u, "target": v, "event": d["event"], "key": d.get("key")}
                  for u, v, d in sorted(g.edges(data=True))],
    }


def to_graphml(graph: LineageGraph) -> str:
    """GraphML text; properties are JSON strings (GraphML holds scalars only)."""
    import networkx as nx

    g = nx.DiGraph()
    for k, d in graph.graph.nodes(data=True):
        nd = _node_dict(k, d)
        g.add_node(k, kind=nd["kind"], mlmd_id=nd["mlmd_id"], type=nd["type"],
                   uri=nd.get("uri", ""), state=nd["state"],
                   properties=json.dumps(nd["properties"], sort_keys=True, default=str),
                   custom_properties=json.dumps(nd["custom_properties"], sort_keys=True, default=str))
    for u, v, d in graph.graph.edges(data=True):
        g.add_edge(u, v, event=d["event"], key=d.get("key") or "")
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    return buf.getvalue().decode()


def _run_id(namespace: str, execution_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/executions/{execution_id}"))


def _dataset_name(a: Artifact) -> tuple:
    if not is_local(a.uri):
        scheme, rest = a.uri.split("://", 1)
        host, _, path = rest.partition("/")
        return f"{scheme}://{host}", "/" + path
    return "file", local_path(a.uri)


def to_openlineage(graph: LineageGraph, *, namespace: str = "lineage") -> List[Dict[str, Any]]:
    """One OpenLineage RunEvent per execution (COMPLETE, FAIL, START, ABORT by state), built
    and serialised with the openlineage-python client's models."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated import (dataset_version_dataset, error_message_run,
                                              execution_parameters_run, job_type_job,
                                              nominal_time_run)
    from openlineage.client.serde import Serde

    producer = f"urn:lineage:{__version__}"
    states = {"COMPLETE": RunState.COMPLETE, "CACHED": RunState.COMPLETE, "FAILED": RunState.FAIL,
              "RUNNING": RunState.START, "NEW": RunState.START, "CANCELED": RunState.ABORT}
    g = graph.graph
    events = []
    for rec in graph.topological():
        if not isinstance(rec, Execution):
            continue
        key = f"e{rec.id}"
        ins = [g.nodes[u]["record"] for u in g.predecessors(key)]
        outs = [g.nodes[v]["record"] for v in g.successors(key)]

        def ds(a: Artifact, cls):
            ns, name = _dataset_name(a)
            facets = {}
            if a.fingerprint:
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=str(a.fingerprint), producer=producer)
            return cls(namespace=ns, name=name, facets=facets)

        run_facets: Dict[str, Any] = {}
        start, end = rec.properties.get("started_at"), rec.properties.get("ended_at")
        if start:
            run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
                nominalStartTime=utc_from_s(start).isoformat(),
                nominalEndTime=utc_from_s(end).isoformat() if end else None, producer=producer)
        if rec.params:
            run_facets["executionParameters"] = execution_parameters_run.ExecutionParametersRunFacet(
                parameters=[execution_parameters_run.ExecutionParameter(
                    key=k, value=json.dumps(v, default=str) if not isinstance(v, str) else v)
                    for k, v in sorted(rec.params.items())], producer=producer)
        if rec.state == "FAILED":
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=rec.error or "failed", programmingLanguage="python", producer=producer)
        when = utc_from_s(end or start) if (end or start) else rec.created
        job_name = rec.properties.get("step") or rec.type
        event = RunEvent(
            eventType=states.get(rec.state, RunState.OTHER),
            eventTime=(when.isoformat() if when else "1970-01-01T00:00:00+00:00"),
            run=Run(runId=_run_id(namespace, rec.id), facets=run_facets),
            job=Job(namespace=namespace, name=str(job_name), facets={
                "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="LINEAGE",
                                                        jobType=rec.type, producer=producer)}),
            producer=producer,
            inputs=[ds(a, InputDataset) for a in ins],
            outputs=[ds(a, OutputDataset) for a in outs],
        )
        events.append(Serde.to_dict(event))
    return events
