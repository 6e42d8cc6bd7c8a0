"""Exposures that travel inside the workflow, and re-binding them after an edit in the web UI.

Before a push, each exposed field gets a marker in its node's ``properties``::

    properties["ryven_comfy"] = {"exposed": [{"input": "seed", "param_id": "seed", "label": "Seed"}]}

The frontend keeps unknown properties through edits, re-titling, moving, copy/paste and
conversion into subgraphs, so after a pull the re-binding finds each parameter by its marker
first, then by node id, then by node type + title (:func:`comfy_backend.workflow.rebind`).
Qt-free: plain dicts in, plain models out.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from comfy_backend.workflow import Binding, ExposedParameter, Field, NodeDefs, list_fields, rebind

MARKER_KEY = "ryven_comfy"


def _subgraphs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    subs = (workflow.get("definitions") or {}).get("subgraphs") or []
    return {str(s.get("id")): s for s in subs if isinstance(s, dict)}


def _node(nodes: Any, node_id: str) -> dict[str, Any] | None:
    for n in nodes if isinstance(nodes, list) else []:
        if isinstance(n, dict) and str(n.get("id")) == node_id:
            return n
    return None


def _locate(workflow: dict[str, Any], exec_id: str) -> dict[str, Any] | None:
    """The node dict an API-prompt id names: ``"5"`` at the root, ``"12:5"`` inside instance 12's subgraph."""
    subs = _subgraphs(workflow)
    nodes: Any = workflow.get("nodes")
    parts = exec_id.split(":")
    for i, part in enumerate(parts):
        node = _node(nodes, part)
        if node is None or i == len(parts) - 1:
            return node
        sub = subs.get(str(node.get("type")))
        if sub is None:
            return None
        nodes = sub.get("nodes")
    return None


def with_markers(workflow: dict[str, Any], exposed: Sequence[ExposedParameter]) -> dict[str, Any]:
    """A copy of the UI ``workflow`` with one marker per exposed field on its node (old markers replaced)."""
    out = copy.deepcopy(workflow)
    for node in _all_nodes(out):
        props = node.get("properties")
        if isinstance(props, dict):
            props.pop(MARKER_KEY, None)
    for p in exposed:
        target = _locate(out, p.node_id)
        if target is None:
            continue  # not in this workflow (a stale exposure): the pull reports it broken
        node = target
        props = node.setdefault("properties", {})
        if not isinstance(props, dict):
            props = node["properties"] = {}
        entry = props.setdefault(MARKER_KEY, {"exposed": []})
        entry["exposed"].append({"input": p.input_name, "param_id": p.id, "label": p.label})
    return out


def api_markers(exposed: Sequence[ExposedParameter]) -> dict[str, dict[str, Any]]:
    """``{node id: marker}`` for an API prompt (set on the nodes after ``loadApiJson``)."""
    out: dict[str, dict[str, Any]] = {}
    for p in exposed:
        out.setdefault(p.node_id, {"exposed": []})["exposed"].append(
            {"input": p.input_name, "param_id": p.id, "label": p.label})
    return out


def _all_nodes(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for n in workflow.get("nodes") or []:
        if isinstance(n, dict):
            yield n
    for s in _subgraphs(workflow).values():
        for n in s.get("nodes") or []:
            if isinstance(n, dict):
                yield n


def find_markers(workflow: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """``{param id: [(API prompt node id, input name), …]}`` for every marker, in graph order.

    A marker inside a subgraph definition shows once per instance of it (``"12:5"``); a copied
    node shows twice: the caller picks.
    """
    subs = _subgraphs(workflow)
    out: dict[str, list[tuple[str, str]]] = {}

    def walk(nodes: Any, prefix: str, depth: int) -> None:
        for n in nodes if isinstance(nodes, list) else []:
            if not isinstance(n, dict):
                continue
            exec_id = f"{prefix}{n.get('id')}"
            props = n.get("properties")
            marker = props.get(MARKER_KEY) if isinstance(props, dict) else None
            for e in (marker or {}).get("exposed") or [] if isinstance(marker, dict) else []:
                if isinstance(e, dict) and e.get("param_id") and e.get("input"):
                    out.setdefault(str(e["param_id"]), []).append((exec_id, str(e["input"])))
            sub = subs.get(str(n.get("type")))
            if sub is not None and depth < 16:   # depth bound: a subgraph that contains itself
                walk(sub.get("nodes"), exec_id + ":", depth + 1)

    walk(workflow.get("nodes"), "", 0)
    return out


@dataclass
class RebindDiff:
    """How the exposed parameters fare in the edited workflow: one Binding each, in order."""

    bindings: list[Binding]
    #: every settable field of the new workflow (to re-expose a broken parameter elsewhere)
    fields: list[Field] = field(default_factory=list)

    @property
    def kept(self) -> list[Binding]:
        return [b for b in self.bindings if b.status == "ok"]

    @property
    def moved(self) -> list[Binding]:
        return [b for b in self.bindings if b.status == "moved"]

    @property
    def broken(self) -> list[Binding]:
        return [b for b in self.bindings if b.status == "broken"]

    @property
    def parameters(self) -> list[ExposedParameter]:
        """The parameters that still bind, updated to where they bind now."""
        return [b.parameter for b in self.bindings if b.status != "broken"]

    def summary(self) -> str:
        return f"{len(self.kept)} kept, {len(self.moved)} moved, {len(self.broken)} broken"


def rebind_exposed(params: Sequence[ExposedParameter], old: dict[str, Any], new: dict[str, Any],
                   object_info: NodeDefs | dict[str, Any] | None = None) -> RebindDiff:
    """Re-bind ``params`` of ``old`` in ``new``: markers first, then node id, then type + title.

    A marker wins when its node still has the field unlinked; several copies of a marker
    prefer the parameter's own node id, else the first in graph order (the reason says so).
    """
    defs = NodeDefs.of(object_info)
    fields = list_fields(new, defs)
    by_key = {(f.node_id, f.input_name): f for f in fields}
    marks = find_markers(new) if isinstance(new, dict) and isinstance(new.get("nodes"), list) else {}
    out: list[Binding] = []
    for p in params:
        places = [(nid, inp) for nid, inp in marks.get(p.id, []) if inp == p.input_name]
        usable = [pl for pl in places if pl in by_key]
        if usable:
            nid, _ = next((pl for pl in usable if pl[0] == p.node_id), usable[0])
            f = by_key[(nid, p.input_name)]
            bound = p.model_copy(update={"node_id": nid, "widget_index": f.widget_index})
            copies = f" ({len(usable)} copies of it; the first is used)" if len(usable) > 1 and nid != p.node_id else ""
            if nid == p.node_id:
                out.append(Binding(parameter=bound, status="ok", node_id=nid))
            else:
                out.append(Binding(parameter=bound, status="moved", node_id=nid,
                                   reason=f"marker found on node {nid} (was node {p.node_id}){copies}"))
            continue
        if places:
            nid = places[0][0]
            out.append(Binding(parameter=p, status="broken",
                               reason=f"input {p.input_name!r} of node {nid} (marked) is linked or gone"))
            continue
        out.extend(rebind([p], old, new, defs))
    return RebindDiff(bindings=out, fields=fields)


__all__ = ["MARKER_KEY", "RebindDiff", "api_markers", "find_markers", "rebind_exposed", "with_markers"]
