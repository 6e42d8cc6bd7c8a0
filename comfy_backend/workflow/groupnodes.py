"""Legacy group nodes (``workflow>Name`` / ``workflow/Name``, defined in ``extra.groupNodes``).

The legacy frontend (``web/extensions/core/groupNode.js`` of ComfyUI, Nov 2023 to mid-2024,
carried over into the TypeScript frontend as ``groupNode.ts``) stored a group's inner nodes
in ``extra.groupNodes[Name]`` as a clipboard copy: ``nodes`` (in execution order, referred to
by index), ``links`` as ``[origin index, origin slot, target index, target slot, …]`` (a
``null`` origin is a link from outside the group), ``external`` (inner outputs also used
outside) and, from 2024, ``config`` (renamed or hidden inputs, outputs and widgets). When
queueing, every inner node became a node of the prompt with the id ``"<group id>:<index>"``.

Here each group node instance is replaced by its inner nodes before conversion, rebuilding
the group's slot layout as ``GroupNodeConfig`` did: per inner node, its widgets (in its
definition's input order; a widget already converted to an input is deferred to the end),
then its unlinked connection inputs; outputs that are not only used inside the group. The
instance's ``widgets_values`` are positional over that widget layout and are written back
into the inner nodes by name (``updateInnerWidgets``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowError
from .graph import MODE_BYPASS, MODE_NEVER, Graph, Link, Node, Workflow, parse_node
from .nodedefs import InputDef, NodeDefs, WidgetSlot, companions
from .widgets import named_values

GROUP_PREFIXES = ("workflow>", "workflow/")
_MAX_NESTING = 8
_IMAGE_UPLOAD_FLAG = "image_upload"


def is_group_node_type(node_type: str) -> bool:
    return node_type.startswith(GROUP_PREFIXES)


def group_name(node_type: str) -> str:
    return node_type[len("workflow>"):]


@dataclass(slots=True)
class _Widget:
    """One widget of the group node: which inner node and input it writes to."""

    index: int            # inner node index
    input_name: str       # the inner node's input (``value`` for primitives)
    slot: WidgetSlot      # with the group's (possibly prefixed) name


@dataclass(slots=True)
class GroupLayout:
    """The slots of a group node type, as ``GroupNodeConfig.registerType`` built them."""

    name: str
    nodes: list[dict[str, Any]]
    widgets: list[_Widget] = field(default_factory=list)
    inputs: list[tuple[int, int]] = field(default_factory=list)    # group input → (inner index, inner slot)
    outputs: list[tuple[int, int]] = field(default_factory=list)   # group output → (inner index, inner slot)
    links_to: dict[int, dict[int, list[Any]]] = field(default_factory=dict)


def _links(data: dict[str, Any], where: str) -> tuple[dict[int, dict[int, list[Any]]], dict[int, set[int]]]:
    links_to: dict[int, dict[int, list[Any]]] = {}
    links_from: dict[int, set[int]] = {}
    for k, link in enumerate(data.get("links") or []):
        if not isinstance(link, list) or len(link) < 4:
            raise WorkflowError(f"{where}.links[{k}]: expected [origin, origin_slot, target, target_slot, …]")
        src, src_slot, tgt, tgt_slot = link[:4]
        if src is None:  # comes from outside the group
            continue
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (src, src_slot, tgt, tgt_slot)):
            raise WorkflowError(f"{where}.links[{k}]: node indexes and slots must be integers")
        links_to.setdefault(tgt, {})[tgt_slot] = link
        links_from.setdefault(src, set()).add(src_slot)
    return links_to, links_from


def _external(data: dict[str, Any]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for ext in data.get("external") or []:
        if isinstance(ext, list) and len(ext) >= 2 and isinstance(ext[0], int) and isinstance(ext[1], int):
            out.setdefault(ext[0], set()).add(ext[1])
    return out


def _inner_inputs(node: dict[str, Any], idx: int, defs: NodeDefs, data: dict[str, Any],
                  links_to: dict[int, dict[int, list[Any]]], links_from: dict[int, set[int]],
                  external: dict[int, set[int]]) -> tuple[list[InputDef], list[str]] | None:
    """(inputs of the inner node's definition, its output types), or None for a skipped virtual node."""
    typ = node.get("type")
    if isinstance(typ, str) and typ in defs:
        ins = list(defs.inputs(typ))
        if any(d.options.get(_IMAGE_UPLOAD_FLAG) for d in ins if not d.optional):
            # the upload extension appended ``upload: ["IMAGEUPLOAD"]`` to the required inputs
            last_req = max(i for i, d in enumerate(ins) if not d.optional)
            ins.insert(last_req + 1, InputDef("upload", "IMAGEUPLOAD", {}, None, False))
        return ins, [t for _n, t in defs.outputs(typ)]
    if typ == "PrimitiveNode":
        out_links = [l for l in data.get("links") or [] if isinstance(l, list) and l and l[0] == idx]
        if not out_links:
            return None
        t = out_links[0][5] if len(out_links[0]) > 5 else "*"
        opts: dict[str, Any] = {}
        choices = None
        if t == "COMBO":  # the primitive takes the combo's choices from its target's definition
            d = _target_input(data, out_links[0], defs)
            if d is not None:
                t, opts, choices = d.type, dict(d.options), d.choices
        if t in ("INT", "FLOAT", "COMBO"):
            opts["control_after_generate"] = True  # checkPrimitiveConnection adds the control widget
        return [InputDef("value", t if isinstance(t, str) else "*", opts, choices, False)], [t]
    if typ == "Reroute":
        if idx in links_to and idx in links_from and 0 not in external.get(idx, set()):
            return None  # used inside the group only
        t = "*"
        for _src, _src_slot, tgt, _tgt_slot, *rest in (l for l in data.get("links") or [] if isinstance(l, list) and len(l) >= 4):
            if tgt == idx and rest[1:2]:
                t = rest[1]
                break
        return [InputDef(t if isinstance(t, str) else "*", t if isinstance(t, str) else "*", {"forceInput": True}, None, False)], [t]
    return None  # other frontend-only nodes (notes) have no slots


def _target_input(data: dict[str, Any], link: list[Any], defs: NodeDefs) -> InputDef | None:
    nodes = data.get("nodes") or []
    tgt, slot = link[2], link[3]
    target = nodes[tgt] if isinstance(tgt, int) and 0 <= tgt < len(nodes) else None
    inputs = target.get("inputs") if isinstance(target, dict) else None
    inp = inputs[slot] if isinstance(inputs, list) and isinstance(slot, int) and 0 <= slot < len(inputs) else None
    w = inp.get("widget") if isinstance(inp, dict) else None
    name = w.get("name") if isinstance(w, dict) else None
    if not isinstance(name, str) or not isinstance(target, dict) or target.get("type") not in defs:
        return None
    return defs.input(target["type"], name)


def _input_config(data: dict[str, Any], idx: int, name: str) -> dict[str, Any]:
    cfg = data.get("config")
    node_cfg = cfg.get(str(idx)) if isinstance(cfg, dict) else None
    inputs = node_cfg.get("input") if isinstance(node_cfg, dict) else None
    c = inputs.get(name) if isinstance(inputs, dict) else None
    return c if isinstance(c, dict) else {}


def _output_visible(data: dict[str, Any], idx: int, slot: int, default: bool) -> bool:
    cfg = data.get("config")
    node_cfg = cfg.get(str(idx)) if isinstance(cfg, dict) else None
    outputs = node_cfg.get("output") if isinstance(node_cfg, dict) else None
    c = outputs.get(str(slot)) if isinstance(outputs, dict) else None
    v = c.get("visible") if isinstance(c, dict) else None
    return default if v is None else bool(v)


def _is_widget(d: InputDef) -> bool:
    return d.is_widget or d.type == "IMAGEUPLOAD"


def group_layout(name: str, data: Any, defs: NodeDefs, where: str) -> GroupLayout:
    """The group node type ``name``'s widgets, inputs and outputs, from its definition."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise WorkflowError(f"{where}: expected a group definition with a 'nodes' array")
    nodes = data["nodes"]
    for k, n in enumerate(nodes):
        if not isinstance(n, dict) or not isinstance(n.get("type"), str):
            raise WorkflowError(f"{where}.nodes[{k}]: expected a node object with a type")
    links_to, links_from = _links(data, where)
    external = _external(data)
    lay = GroupLayout(name, nodes, links_to=links_to)
    seen: dict[str, int] = {}
    deferred: list[tuple[int, dict[str, Any], list[tuple[int, InputDef]], int]] = []

    def add_widget(idx: int, node: dict[str, Any], d: InputDef) -> None:
        label = _input_config(data, idx, d.name).get("name")
        if not isinstance(label, str):
            label = next((i.get("label") for i in node.get("inputs") or [] if i.get("name") == d.name and i.get("label")), d.name)
        key = label
        if (node.get("type") == "PrimitiveNode" and node.get("title")) or label in seen:
            prefix = f"{node.get('title') or node.get('type')} "
            key = label = f"{prefix}{d.name}"
            if label in seen:
                label = f"{prefix}{seen[label]} {d.name}"
        seen[key] = seen.get(key, 1) + 1
        if d.type == "IMAGEUPLOAD":
            slot = WidgetSlot(label, "upload", "UPLOAD", {}, None, False, d.name)
            lay.widgets.append(_Widget(idx, d.name, slot))
            return
        lay.widgets.append(_Widget(idx, d.name, WidgetSlot(label, "value", d.type, d.options, d.choices, False)))
        for c in companions(d):
            lay.widgets.append(_Widget(idx, c.name, c))

    for idx, node in enumerate(nodes):
        spec = _inner_inputs(node, idx, defs, data, links_to, links_from, external)
        if spec is None:
            continue
        ins, out_types = spec
        node_inputs = node.get("inputs") or []
        converted: list[tuple[int, InputDef]] = []
        slots: list[InputDef] = []
        for d in ins:
            if _is_widget(d):
                ci = next((k for k, i in enumerate(node_inputs) if i.get("name") == d.name
                           and isinstance(i.get("widget"), dict) and i["widget"].get("name") == d.name), -1)
                if ci > -1:
                    converted.append((ci, d))
                else:
                    add_widget(idx, node, d)
            else:
                slots.append(d)
        for k, d in enumerate(slots):
            if k in links_to.get(idx, {}) or _input_config(data, idx, d.name).get("visible") is False:
                continue
            lay.inputs.append((idx, k))
        converted.sort(key=lambda c: str(c[0]))  # JavaScript's default sort compares as strings
        deferred.append((idx, node, converted, len(slots)))
        for k, _t in enumerate(out_types):
            internal = k in links_from.get(idx, set()) and k not in external.get(idx, set())
            if _output_visible(data, idx, k, not internal):
                lay.outputs.append((idx, k))
    for idx, node, converted, base in deferred:  # converted widgets come after every node's own
        for k, (_ci, d) in enumerate(converted):
            if base + k in links_to.get(idx, {}):
                continue
            add_widget(idx, node, d)
            lay.inputs.append((idx, base + k))
    return lay


class _Expander:
    def __init__(self, wf: Workflow, defs: NodeDefs, strict: bool = True) -> None:
        self.wf, self.defs, self.strict = wf, defs, strict
        self.layouts: dict[str, GroupLayout] = {}

    def expandable(self, node: Node) -> bool:
        if not is_group_node_type(node.type) or node.mode in (MODE_NEVER, MODE_BYPASS):
            return False  # muted/bypassed groups are skipped (or bypassed) as a whole
        return self.strict or group_name(node.type) in self.wf.group_nodes

    def layout(self, node: Node) -> GroupLayout:
        name = group_name(node.type)
        lay = self.layouts.get(name)
        if lay is None:
            data = self.wf.group_nodes.get(name)
            if data is None:
                raise WorkflowError(f"{node.where}: group node {node.type!r} has no definition in extra.groupNodes")
            lay = self.layouts[name] = group_layout(name, data, self.defs, f"extra.groupNodes[{name!r}]")
        return lay

    def expand(self, g: Graph) -> Graph:
        nodes: dict[str, Node] = {}
        links: dict[Any, Link] = dict(g.links)
        for node in g.nodes.values():
            if not self.expandable(node):
                nodes[node.key] = node
                continue
            for inner in self.inner_nodes(node, g, links):
                nodes[inner.key] = inner
        return Graph(nodes, links, g.where, g.raw, g.sub_inputs, g.sub_outputs, g.name)

    def inner_nodes(self, host: Node, g: Graph, links: dict[Any, Link]) -> list[Node]:
        lay = self.layout(host)
        prefix = f"{host.key}:"
        where = f"{host.where} (group {lay.name!r})"
        inner = [parse_node({**n, "id": f"{prefix}{k}"}, f"{where}.nodes[{k}]") for k, n in enumerate(lay.nodes)]
        for n in inner:
            n.inputs = [dict(i, link=None) for i in n.inputs]
            n.outputs = [dict(o, links=[]) for o in n.outputs]
        # links inside the group
        for tgt, by_slot in lay.links_to.items():
            for tgt_slot, l in by_slot.items():
                src, src_slot = l[0], l[1]
                if not (0 <= src < len(inner) and 0 <= tgt < len(inner)):
                    raise WorkflowError(f"{where}: a link refers to inner node {max(src, tgt)}, which does not exist")
                lid = f"{prefix}{src}.{src_slot}>{tgt}.{tgt_slot}"
                self._connect(links, inner[src], src_slot, inner[tgt], tgt_slot, lid, l[5] if len(l) > 5 else "*")
        # links into the group: the outer link now ends at the inner node
        for s, inp in enumerate(host.inputs):
            link = g.input_link(host, s)
            if link is None or s >= len(lay.inputs):
                continue
            idx, slot = lay.inputs[s]
            target = inner[idx]
            while len(target.inputs) <= slot:
                target.inputs.append({"name": inp.get("name"), "type": inp.get("type"), "link": None})
            target.inputs[slot]["link"] = link.id
            links[link.id] = Link(link.id, link.origin_id, link.origin_slot, target.key, slot, link.type)
        # links out of the group: they now start at the inner node
        for o, out in enumerate(host.outputs):
            ids = out.get("links")
            if not isinstance(ids, list) or o >= len(lay.outputs):
                continue
            idx, slot = lay.outputs[o]
            for lid in ids:
                link = links.get(lid)
                if link is not None and link.origin_id == host.key:
                    links[lid] = Link(lid, inner[idx].key, slot, link.target_id, link.target_slot, link.type)
                    while len(inner[idx].outputs) <= slot:
                        inner[idx].outputs.append({"name": out.get("name"), "type": out.get("type"), "links": []})
                    inner[idx].outputs[slot]["links"].append(lid)
        self.write_widgets(host, lay, inner)
        return inner

    @staticmethod
    def _connect(links: dict[Any, Link], src: Node, src_slot: int, tgt: Node, tgt_slot: int, lid: str, typ: Any) -> None:
        links[lid] = Link(lid, src.key, src_slot, tgt.key, tgt_slot, typ)
        while len(tgt.inputs) <= tgt_slot:
            tgt.inputs.append({"name": "", "type": typ, "link": None})
        tgt.inputs[tgt_slot]["link"] = lid
        while len(src.outputs) <= src_slot:
            src.outputs.append({"name": "", "type": typ, "links": []})
        src.outputs[src_slot]["links"].append(lid)

    def write_widgets(self, host: Node, lay: GroupLayout, inner: list[Node]) -> None:
        """Copy the instance's widget values into its inner nodes (``updateInnerWidgets``)."""
        values: dict[tuple[int, str], Any] = {}
        controls: dict[tuple[int, str], Any] = {}
        for w, (slot, value, where) in zip(lay.widgets, named_values([w.slot for w in lay.widgets], host.widgets_values)):
            if where is not None and slot.kind == "value":
                values[(w.index, w.input_name)] = value
            elif where is not None and slot.kind == "control" and slot.target:
                controls[(w.index, slot.target)] = value
        for idx, node in enumerate(inner):
            mine = {name: v for (i, name), v in values.items() if i == idx}
            mine_controls = {name: v for (i, name), v in controls.items() if i == idx}
            if not mine:
                continue
            if node.type == "PrimitiveNode" or node.type == "Reroute":
                # a primitive (or a reroute standing in for a widget) passes its value to its targets
                node.type = "PrimitiveNode"
                node.widgets_values = [mine.get("value", next(iter(mine.values())))]
                continue
            if node.type not in self.defs:
                continue
            slots = self.defs.layout(node.type)
            full = named_values(slots, node.widgets_values)
            node.widgets_values = [mine.get(s.name, v) if s.kind == "value" else
                                   mine_controls.get(s.target or "", v) if s.kind == "control" else v
                                   for s, v, _w in full]


def expand_group_nodes(wf: Workflow, defs: NodeDefs, strict: bool = True) -> Workflow:
    """``wf`` with every legacy group node replaced by its inner nodes (ids ``"<group>:<index>"``).

    A group node without a definition in ``extra.groupNodes`` is an error, or with
    ``strict=False`` stays as it is.
    """
    ex = _Expander(wf, defs, strict)
    root = wf.root
    for _ in range(_MAX_NESTING):
        if not any(ex.expandable(n) for n in root.nodes.values()):
            return Workflow(root, wf.subgraphs, wf.extra, wf.raw)
        root = ex.expand(root)
    raise WorkflowError("extra.groupNodes: group nodes nested too deeply (a group contains itself?)")


def group_widget_position(wf: Workflow, defs: NodeDefs, exec_id: str, name: str) -> tuple[Node, int] | None:
    """For widget ``name`` of inner node ``exec_id`` (``"<group>:<index>"``), the group node
    holding its value and the position in its ``widgets_values``; None if not a group's node."""
    host_key, _, index = exec_id.rpartition(":")
    host = wf.root.nodes.get(host_key)
    if host is None or not is_group_node_type(host.type) or not index.isdigit():
        return None
    lay = _Expander(wf, defs).layout(host)
    slots = [w.slot for w in lay.widgets]
    for w, (_slot, _v, where) in zip(lay.widgets, named_values(slots, host.widgets_values)):
        if w.index == int(index) and w.input_name == name and w.slot.kind == "value":
            if not isinstance(where, int):
                raise WorkflowError(f"{host.where}.widgets_values: no value saved for {exec_id}.{name}")
            return host, where
    raise WorkflowError(f"node {exec_id}: {name!r} is not a widget of group node {host.type!r}")
