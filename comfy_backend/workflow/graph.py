"""A UI-format workflow as a graph: nodes by id, links by id, subgraph definitions.

Both link shapes (0.4 six-element arrays and 1.0 objects, with ``null`` holes) and both
id kinds (numbers, strings such as ``"12:3"``) are normalised here once, so the
converter and the parameter code never look at the raw shapes again. Every problem is
a :class:`WorkflowError` naming the place, e.g. ``links[4]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowError

SUBGRAPH_INPUT_ID = "-10"
SUBGRAPH_OUTPUT_ID = "-20"

MODE_NEVER = 2   # muted
MODE_BYPASS = 4

#: Frontend-only nodes: never sent to the server.
VIRTUAL_TYPES = frozenset({
    "Reroute", "PrimitiveNode", "Note", "MarkdownNote", "Reroute (rgthree)", "Note Plus (mtb)",
    "Fast Groups Bypasser (rgthree)", "Fast Groups Muter (rgthree)", "Fast Bypasser (rgthree)",
    "Fast Muter (rgthree)", "Label (rgthree)", "Bookmark (rgthree)", "Fast Actions Button (rgthree)",
    "Node Combiner (rgthree)", "Comment", "Notes", "Note _O", "SetNode", "GetNode",
})
#: Virtual nodes that forward their input to their output.
PASS_THROUGH_TYPES = frozenset({"Reroute", "Reroute (rgthree)"})


@dataclass(slots=True)
class Link:
    id: Any
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: Any


@dataclass(slots=True)
class Node:
    key: str                    # str(id): the id used in the API prompt
    id: Any
    type: str
    mode: int
    title: str | None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    widgets_values: Any
    properties: dict[str, Any]
    where: str                  # e.g. "nodes[3]"
    raw: dict[str, Any]

    def input_link_id(self, slot: int) -> Any:
        if 0 <= slot < len(self.inputs):
            return self.inputs[slot].get("link")
        return None


@dataclass(slots=True)
class Graph:
    """One graph level: the root workflow, or one subgraph definition."""

    nodes: dict[str, Node]
    links: dict[Any, Link]
    where: str
    raw: dict[str, Any]
    # subgraph definitions only
    sub_inputs: list[dict[str, Any]] = field(default_factory=list)
    sub_outputs: list[dict[str, Any]] = field(default_factory=list)
    name: str = ""

    def input_link(self, node: Node, slot: int) -> Link | None:
        lid = node.input_link_id(slot)
        if lid is None:
            return None
        return self.links.get(lid)

    def links_into_output(self, slot: int) -> Link | None:
        """The inner link feeding output ``slot`` of a subgraph definition."""
        for link in self.links.values():
            if link.target_id == SUBGRAPH_OUTPUT_ID and link.target_slot == slot:
                return link
        return None


@dataclass(slots=True)
class Workflow:
    """A parsed UI workflow: the root graph plus subgraph definitions by id."""

    root: Graph
    subgraphs: dict[str, Graph]
    extra: dict[str, Any]
    raw: dict[str, Any]

    @property
    def group_nodes(self) -> dict[str, Any]:
        g = self.extra.get("groupNodes")
        return g if isinstance(g, dict) else {}


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        if isinstance(v, str) and v.lstrip("-").isdigit():
            return int(v)
        raise WorkflowError(f"{where}: expected an integer, got {v!r}")
    return int(v)


def _id_key(v: Any, where: str) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, str, float)):
        raise WorkflowError(f"{where}: expected a node id (number or string), got {type(v).__name__}")
    if isinstance(v, float):
        if not v.is_integer():
            raise WorkflowError(f"{where}: expected a node id, got {v!r}")
        v = int(v)
    return str(v)


def parse_link(raw: Any, where: str) -> Link | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        if len(raw) < 5:
            raise WorkflowError(f"{where}: a link needs [id, origin_id, origin_slot, target_id, target_slot, type]")
        lid, o, os_, t, ts = raw[:5]
        typ = raw[5] if len(raw) > 5 else "*"
    elif isinstance(raw, dict):
        try:
            lid, o, os_, t, ts = (raw[k] for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot"))
        except KeyError as exc:
            raise WorkflowError(f"{where}: link has no {exc.args[0]!r}") from None
        typ = raw.get("type", "*")
    else:
        raise WorkflowError(f"{where}: expected a link array or object, got {type(raw).__name__}")
    if isinstance(lid, (list, dict)) or lid is None:
        raise WorkflowError(f"{where}: bad link id {lid!r}")
    return Link(lid, _id_key(o, f"{where}.origin_id"), _int(os_, f"{where}.origin_slot"),
                _id_key(t, f"{where}.target_id"), _int(ts, f"{where}.target_slot"), typ)


def parse_node(raw: Any, where: str) -> Node:
    if not isinstance(raw, dict):
        raise WorkflowError(f"{where}: expected a node object, got {type(raw).__name__}")
    if "id" not in raw:
        raise WorkflowError(f"{where}.id: missing")
    key = _id_key(raw["id"], f"{where}.id")
    typ = raw.get("type")
    if not isinstance(typ, str) or not typ:
        raise WorkflowError(f"{where}.type: missing or not a string")
    mode = raw.get("mode", 0)
    mode = 0 if mode is None else _int(mode, f"{where}.mode")
    title = raw.get("title")
    inputs = raw.get("inputs") or []
    outputs = raw.get("outputs") or []
    if not isinstance(inputs, list):
        raise WorkflowError(f"{where}.inputs: expected an array")
    if not isinstance(outputs, list):
        raise WorkflowError(f"{where}.outputs: expected an array")
    for i, slot in enumerate(inputs):
        if not isinstance(slot, dict):
            raise WorkflowError(f"{where}.inputs[{i}]: expected an object")
        link = slot.get("link")
        if link is not None and (isinstance(link, (list, dict, bool))):
            raise WorkflowError(f"{where}.inputs[{i}].link: expected a link id or null")
    for i, slot in enumerate(outputs):
        if not isinstance(slot, dict):
            raise WorkflowError(f"{where}.outputs[{i}]: expected an object")
    wv = raw.get("widgets_values")
    if wv is not None and not isinstance(wv, (list, dict)):
        raise WorkflowError(f"{where}.widgets_values: expected an array or object")
    props = raw.get("properties")
    return Node(key, raw["id"], typ, mode, title if isinstance(title, str) else None, inputs, outputs, wv,
                props if isinstance(props, dict) else {}, where, raw)


def parse_graph(raw: dict[str, Any], where: str) -> Graph:
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, list):
        raise WorkflowError(f"{where + '.' if where else ''}nodes: expected an array of nodes")
    prefix = f"{where}." if where else ""
    nodes: dict[str, Node] = {}
    index: dict[str, int] = {}
    for i, n in enumerate(nodes_raw):
        node = parse_node(n, f"{prefix}nodes[{i}]")
        if node.key in nodes:
            raise WorkflowError(f"{prefix}nodes[{i}].id: duplicate node id {node.id!r} (also {prefix}nodes[{index[node.key]}])")
        nodes[node.key] = node
        index[node.key] = i
    links_raw = raw.get("links") or []
    if isinstance(links_raw, dict):  # some tools write {id: link}
        links_raw = list(links_raw.values())
    if not isinstance(links_raw, list):
        raise WorkflowError(f"{prefix}links: expected an array")
    links: dict[Any, Link] = {}
    for i, l in enumerate(links_raw):
        link = parse_link(l, f"{prefix}links[{i}]")
        if link is not None:
            links[link.id] = link
    g = Graph(nodes, links, where or "workflow", raw)
    ins, outs = raw.get("inputs"), raw.get("outputs")
    g.sub_inputs = [x for x in ins if isinstance(x, dict)] if isinstance(ins, list) else []
    g.sub_outputs = [x for x in outs if isinstance(x, dict)] if isinstance(outs, list) else []
    g.name = str(raw.get("name") or "")
    return g


def parse_workflow(raw: Any) -> Workflow:
    """Build the graph of a UI workflow (0.4 or 1.0); raise WorkflowError naming the bad place."""
    if not isinstance(raw, dict):
        raise WorkflowError(f"workflow: expected a JSON object, got {type(raw).__name__}")
    root = parse_graph(raw, "")
    subgraphs: dict[str, Graph] = {}
    defs = raw.get("definitions")
    if defs is not None and not isinstance(defs, dict):
        raise WorkflowError("definitions: expected an object")
    subs = (defs or {}).get("subgraphs") or []
    if not isinstance(subs, list):
        raise WorkflowError("definitions.subgraphs: expected an array")
    for i, s in enumerate(subs):
        where = f"definitions.subgraphs[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("id"), str):
            raise WorkflowError(f"{where}: expected a subgraph object with a string id")
        subgraphs[s["id"]] = parse_graph(s, where)
    extra = raw.get("extra")
    return Workflow(root, subgraphs, extra if isinstance(extra, dict) else {}, raw)
