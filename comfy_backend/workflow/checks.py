"""Consistency checks of a UI workflow's links, for ``workflow validate``.

The JSON Schema checks shapes and loading checks node ids; what neither can see is a link
that points nowhere: its origin or target node does not exist (a *dangling* link), or its
slot is past the node's outputs or inputs. The converter tolerates these (the frontend
drops such links when it loads the file), so they are reported, not raised; each problem
names its place, e.g. ``definitions.subgraphs[0].links[3]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .graph import SUBGRAPH_INPUT_ID, SUBGRAPH_OUTPUT_ID, Graph, Link, parse_link
from .parsed import ParsedWorkflow, WorkflowLike


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def link_problems(workflow: WorkflowLike) -> list[Problem]:
    """Dangling links and links whose slot is out of range, in the root graph and every subgraph."""
    model = ParsedWorkflow.of(workflow)
    if not model.is_ui:
        return []
    wf = model.graph
    out = _graph_problems(wf.root, "", subgraph=False)
    for g in wf.subgraphs.values():
        out.extend(_graph_problems(g, f"{g.where}.", subgraph=True))
    return out


def _raw_links(g: Graph) -> list[tuple[int, Any]]:
    raw = g.raw.get("links") or []
    items = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    return list(enumerate(items))


def _graph_problems(g: Graph, prefix: str, *, subgraph: bool) -> list[Problem]:
    out: list[Problem] = []
    for i, raw in _raw_links(g):
        where = f"{prefix}links[{i}]"
        link = parse_link(raw, where)
        if link is None:
            continue
        out.extend(Problem(where, m) for m in _link_messages(g, link, subgraph))
    return out


def _link_messages(g: Graph, link: Link, subgraph: bool) -> list[str]:
    origin = _end_message(g, link, "starts", link.origin_id, link.origin_slot, "output",
                          ("input", g.sub_inputs) if subgraph and link.origin_id == SUBGRAPH_INPUT_ID else None)
    target = _end_message(g, link, "ends", link.target_id, link.target_slot, "input",
                          ("output", g.sub_outputs) if subgraph and link.target_id == SUBGRAPH_OUTPUT_ID else None)
    return [m for m in (origin, target) if m is not None]


def _end_message(g: Graph, link: Link, verb: str, node_id: str, slot: int, kind: str,
                 boundary: tuple[str, list[dict[str, Any]]] | None) -> str | None:
    """What is wrong with one end of a link (None: nothing). ``kind`` is the node slot it names
    ("output" at the origin, "input" at the target); ``boundary`` the subgraph's own inputs or
    outputs, when the end is on the subgraph's boundary instead of a node."""
    if boundary is not None:
        side, sides = boundary
        if 0 <= slot < len(sides):
            return None
        return f"link {link.id} {verb} at subgraph {side} {slot}, but the subgraph has {len(sides)} {side}s"
    node = g.nodes.get(node_id)
    if node is None:
        return f"link {link.id} {verb} at node {node_id}, which does not exist (dangling link)"
    slots = node.outputs if kind == "output" else node.inputs
    if 0 <= slot < len(slots):
        return None
    return (f"link {link.id} {verb} at {kind} {slot} of node {node_id} "
            f"({node.where}, {node.type}), which has {len(slots)} {kind}s")
