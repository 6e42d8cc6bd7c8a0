"""Widgets of the nodes inside subgraph instances, addressed by execution id (``outer:inner``).

The API prompt the frontend makes has one node per inner node of each subgraph instance,
with the id path ``"<host id>:<inner id>"`` (deeper for nested subgraphs). Listing inner
widgets under the same ids lets a field chosen on the UI workflow patch the converted
prompt directly. Each widget's value lives in one place of the UI workflow:

* on the **host** node when it is promoted (a widget-kind subgraph input, or a
  ``proxyWidgets`` entry): position ``owner_index`` of the host's ``widgets_values``;
* otherwise on the **inner node** inside the subgraph definition, which every instance of
  that definition shares. That includes a widget fed by a subgraph input for which the host
  stores no value (the converter then sends the inner node's own value, as the frontend does).

A widget fed by a subgraph input is labelled with that input's name (``subgraph_input``),
which is what the editor shows on the instance.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import WorkflowError
from .graph import MODE_BYPASS, MODE_NEVER, SUBGRAPH_INPUT_ID, VIRTUAL_TYPES, Graph, Node, Workflow
from .nodedefs import NodeDefs, WidgetSlot
from .promotion import promotion
from .widgets import named_values

_MAX_DEPTH = 32


@dataclass(slots=True)
class InnerWidget:
    """One settable widget of a node inside a subgraph instance."""

    exec_id: str                 # the node's id in the API prompt, e.g. "12:5"
    node: Node                   # the inner node (in its subgraph definition)
    slot: WidgetSlot
    value: Any
    control: Any                 # the control value stored next to it on the inner node, if any
    owner: Node                  # the node whose widgets_values hold the value
    owner_index: int | None      # position there (None: the saved list has no value for it yet)
    definition: str | None       # id of the subgraph definition holding ``owner`` (None: root graph)
    title: str                   # "Host title / inner title"
    subgraph_input: str | None = None   # name of the subgraph input feeding it, if any

    @property
    def promoted(self) -> bool:
        return self.owner is not self.node


def instances(wf: Workflow, definition: str) -> int:
    """How many nodes (in the root graph and all definitions) instantiate ``definition``."""
    graphs = [wf.root, *wf.subgraphs.values()]
    return sum(1 for g in graphs for n in g.nodes.values() if n.type == definition)


def inner_widgets(wf: Workflow, defs: NodeDefs) -> list[InnerWidget]:
    """Every settable inner widget of every (not muted or bypassed) subgraph instance."""
    out: list[InnerWidget] = []
    for host in wf.root.nodes.values():
        out.extend(_walk(wf, defs, host, None, "", host.title or "", 0))
    return out


def _title(node: Node, defs: NodeDefs) -> str:
    return node.title or str((defs.info(node.type) or {}).get("display_name") or node.type)


def _socket(node: Node, name: str) -> dict[str, Any] | None:
    for inp in node.inputs:
        w = inp.get("widget")
        if (isinstance(w, dict) and w.get("name") == name) or inp.get("name") == name:
            return inp
    return None


def _walk(wf: Workflow, defs: NodeDefs, host: Node, host_def: str | None, prefix: str, title: str,
          depth: int) -> Iterator[InnerWidget]:
    sub = wf.subgraphs.get(host.type)
    if sub is None or host.mode in (MODE_NEVER, MODE_BYPASS):
        return
    if depth > _MAX_DEPTH:
        raise WorkflowError(f"{sub.where}: subgraphs nested too deeply (a subgraph contains itself?)")
    promo = promotion(host, sub)
    exec_prefix = f"{prefix}{host.key}:"
    host_title = title or host.title or sub.name or host.type
    host_linked = {i.get("name") for i in host.inputs if i.get("link") is not None}
    for node in sub.nodes.values():
        if node.mode in (MODE_NEVER, MODE_BYPASS) or node.type in VIRTUAL_TYPES:
            continue
        if node.type in wf.subgraphs:
            yield from _walk(wf, defs, node, host.type, exec_prefix, f"{host_title} / {_title(node, defs)}", depth + 1)
            continue
        if node.type not in defs:
            continue
        vals = named_values(defs.layout(node.type), node.widgets_values)
        controls = {s.target: v for s, v, w in vals if s.kind == "control" and w is not None}
        label = f"{host_title} / {_title(node, defs)}"
        for slot, value, where in vals:
            if slot.kind != "value" or (slot.force_input and where is None):
                continue
            iw = _owner(sub, promo, host, host_def, host_linked, node, slot, value, where)
            if iw is None:
                continue
            owner, index, definition, v, input_name = iw
            yield InnerWidget(exec_prefix + node.key, node, slot, v, controls.get(slot.name), owner, index,
                              definition, label, input_name)


def _owner(sub: Graph, promo: Any, host: Node, host_def: str | None, host_linked: set[Any], node: Node,
           slot: WidgetSlot, value: Any, where: Any) -> tuple[Node, int | None, str | None, Any, str | None] | None:
    """Where the widget's value lives (and the subgraph input feeding it), or None when it is
    not settable (fed by a link)."""
    inp = _socket(node, slot.name)
    link = sub.links.get(inp.get("link")) if inp is not None and inp.get("link") is not None else None
    if link is not None:
        if link.origin_id != SUBGRAPH_INPUT_ID:
            return None                       # fed by another inner node
        k = link.origin_slot
        name = sub.sub_inputs[k].get("name") if k < len(sub.sub_inputs) else None
        label = name if isinstance(name, str) else None
        if name in host_linked:
            return None                       # fed from outside the instance
        if k in promo.by_input:
            pos, v = promo.by_input[k]
            return host, pos, host_def, v, label
        # the host stores no value: the inner node's own value is the one sent
        return node, where if isinstance(where, int) else None, host.type, value, label
    if (node.key, slot.name) in promo.by_widget:
        pos, v = promo.by_widget[(node.key, slot.name)]
        return host, pos, host_def, v, None
    return node, where if isinstance(where, int) else None, host.type, value, None


def find_inner_widget(wf: Workflow, defs: NodeDefs, exec_id: str, name: str) -> InnerWidget:
    """The inner widget ``name`` of node ``exec_id``; WorkflowError saying why when there is none."""
    candidates = [iw for iw in inner_widgets(wf, defs) if iw.exec_id == exec_id]
    for iw in candidates:
        if iw.slot.name == name:
            return iw
    if not candidates:
        raise WorkflowError(f"nodes: no node {exec_id!r} (inside a subgraph instance) with settable widgets")
    names = ", ".join(sorted({iw.slot.name for iw in candidates}))
    raise WorkflowError(f"node {exec_id}: no settable widget {name!r} (linked, or not a widget; settable: {names})")
