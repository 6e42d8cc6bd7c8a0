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
    msgs: list[str] = []
    if subgraph and link.origin_id == SUBGRAPH_INPUT_ID:
        if not 0 <= link.origin_slot < len(g.sub_inputs):
            msgs.append(f"link {link.id} starts at subgraph input {link.origin_slot}, "
                        f"but the subgraph has {len(g.sub_inputs)} inputs")
    else:
        origin = g.nodes.get(link.origin_id)
        if origin is None:
            msgs.append(f"link {link.id} starts at node {link.origin_id}, which does not exist (dangling link)")
        elif not 0 <= link.origin_slot < len(origin.outputs):
            msgs.append(f"link {link.id} starts at output {link.origin_slot} of node {link.origin_id} "
                        f"({origin.where}, {origin.type}), which has {len(origin.outputs)} outputs")
    if subgraph and link.target_id == SUBGRAPH_OUTPUT_ID:
        if not 0 <= link.target_slot < len(g.sub_outputs):
            msgs.append(f"link {link.id} ends at subgraph output {link.target_slot}, "
                        f"but the subgraph has {len(g.sub_outputs)} outputs")
    else:
        target = g.nodes.get(link.target_id)
        if target is None:
            msgs.append(f"link {link.id} ends at node {link.target_id}, which does not exist (dangling link)")
        elif not 0 <= link.target_slot < len(target.inputs):
            msgs.append(f"link {link.id} ends at input {link.target_slot} of node {link.target_id} "
                        f"({target.where}, {target.type}), which has {len(target.inputs)} inputs")
    return msgs
