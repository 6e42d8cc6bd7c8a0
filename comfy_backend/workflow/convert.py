"""UI workflow → API prompt, reproducing the frontend's ``graphToPrompt``.

The rules (``ComfyUI_frontend`` ``src/utils/executionUtil.ts`` and the widget code) are
summarised in ``../shared/reference/peers.md`` §6: widgets become inputs by name,
links overwrite widget values, virtual nodes (Reroute, PrimitiveNode, notes) and muted
or bypassed nodes never appear, links through bypassed nodes are resolved to one of
their inputs, subgraph instances are flattened with ``outer:inner`` ids, and dangling
links are pruned at the end. What differs between frontend versions is decided from
the workflow itself (:class:`Era`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowError
from .era import Era
from .graph import (
    MODE_BYPASS,
    MODE_NEVER,
    PASS_THROUGH_TYPES,
    SUBGRAPH_INPUT_ID,
    VIRTUAL_TYPES,
    Graph,
    Link,
    Node,
    Workflow,
)
from .groupnodes import expand_group_nodes, is_group_node_type
from .nodedefs import NodeDefs, WidgetSlot
from .parsed import ParsedWorkflow, WorkflowLike
from .promotion import promotion
from .textproc import SAVE_NODE_TYPES, apply_text_replacements, resolve_dynamic_prompt
from .widgets import named_values

__all__ = ["PASS_THROUGH_TYPES", "VIRTUAL_TYPES", "ConvertOptions", "bypass_slot", "compatible", "to_api"]
_MAX_DEPTH = 200  # reroute/bypass chains; well below Python's recursion limit


@dataclass(slots=True)
class ConvertOptions:
    """Choices a headless conversion must make that the browser makes by itself."""

    #: resolve ``{a|b}`` and strip comments in dynamic-prompt widgets (as the frontend does)
    dynamic_prompts: bool = True
    #: apply ``%date:…%``/``%Node.widget%`` replacement to Save nodes' ``filename_prefix``
    text_replacements: bool = True
    rng: random.Random | None = None
    #: node types not in object_info: "error" (default) or "keep" (sent with link inputs only)
    unknown_nodes: str = "error"
    #: a widget the saved workflow has no value for (the node gained an input since):
    #: "default" sends the spec's default, as today's frontend would after loading the
    #: file; "omit" leaves it out, as the frontend that saved the file did
    missing_widgets: str = "default"
    era: Era | None = None


@dataclass(slots=True)
class _Ctx:
    """One graph instance: the root graph, or a subgraph as instantiated by a host node."""

    graph: Graph
    prefix: str
    host: Node | None = None
    parent: _Ctx | None = None
    host_values: dict[int, Any] = field(default_factory=dict)
    children: dict[str, _Ctx] = field(default_factory=dict)


_LINK = object()


class _Converter:
    def __init__(self, wf: Workflow, defs: NodeDefs, opts: ConvertOptions) -> None:
        self.wf, self.defs, self.opts = wf, defs, opts
        self.era = opts.era or Era.of(wf, defs)
        self.overrides: dict[tuple[str, str], Any] = {}   # (exec id, widget) → PrimitiveNode value
        self.contexts: list[_Ctx] = []

    # -- contexts ---------------------------------------------------------------------
    def build_contexts(self, ctx: _Ctx, depth: int = 0) -> None:
        if depth > 32:
            raise WorkflowError(f"{ctx.graph.where}: subgraphs nested too deeply (a subgraph contains itself?)")
        self.contexts.append(ctx)
        for node in ctx.graph.nodes.values():
            sub = self.wf.subgraphs.get(node.type)
            if sub is None or node.mode in (MODE_NEVER, MODE_BYPASS):
                continue
            promo = promotion(node, sub)
            child = _Ctx(sub, f"{ctx.prefix}{node.key}:", node, ctx, promo.input_values())
            for (inner, name), (_pos, value) in promo.by_widget.items():
                self.overrides[(f"{child.prefix}{inner}", name)] = value   # proxyWidgets on the host
            ctx.children[node.key] = child
            self.build_contexts(child, depth + 1)

    # -- primitives -------------------------------------------------------------------
    def apply_primitives(self, ctx: _Ctx) -> None:
        g = ctx.graph
        for node in g.nodes.values():
            if node.type != "PrimitiveNode":
                continue
            wv = node.widgets_values
            if not isinstance(wv, list) or not wv:
                continue
            value = wv[0]
            for target, slot in self._targets(g, node, 0, 0):
                inp = target.inputs[slot] if slot < len(target.inputs) else {}
                widget = inp.get("widget")
                name = widget.get("name") if isinstance(widget, dict) else None
                if isinstance(name, str):
                    self.overrides[(ctx.prefix + target.key, name)] = value

    def _targets(self, g: Graph, node: Node, slot: int, depth: int) -> list[tuple[Node, int]]:
        """Nodes fed by output ``slot`` of ``node``, looking through reroutes."""
        if depth > _MAX_DEPTH:
            raise WorkflowError(f"{node.where}: reroute cycle")
        out: list[tuple[Node, int]] = []
        outputs = node.outputs
        ids = outputs[slot].get("links") if slot < len(outputs) else None
        for lid in ids if isinstance(ids, list) else []:
            link = g.links.get(lid)
            if link is None:
                continue
            t = g.nodes.get(link.target_id)
            if t is None:
                continue
            if t.type in PASS_THROUGH_TYPES:
                out.extend(self._targets(g, t, 0, depth + 1))
            else:
                out.append((t, link.target_slot))
        return out

    # -- links ------------------------------------------------------------------------
    def resolve(self, ctx: _Ctx, link: Link, target_type: Any, depth: int = 0) -> Any:
        """``(_LINK, exec_id, slot)``, ``("value", v)`` or None for the node feeding ``link``."""
        if depth > _MAX_DEPTH:
            raise WorkflowError(f"{ctx.graph.where}: link {link.id} is part of a cycle")
        g = ctx.graph
        if link.origin_id == SUBGRAPH_INPUT_ID and ctx.host is not None and ctx.parent is not None:
            k = link.origin_slot
            name = ctx.graph.sub_inputs[k].get("name") if k < len(ctx.graph.sub_inputs) else None
            host = ctx.host
            for i, inp in enumerate(host.inputs):
                if inp.get("name") == name:
                    outer = ctx.parent.graph.input_link(host, i)
                    if outer is not None:
                        return self.resolve(ctx.parent, outer, target_type, depth + 1)
                    break
            if k in ctx.host_values:
                return ("value", ctx.host_values[k])
            return None
        origin = g.nodes.get(link.origin_id)
        if origin is None:
            return None
        if origin.mode == MODE_BYPASS:
            slot = bypass_slot(origin, link.origin_slot, target_type)
            nxt = g.input_link(origin, slot) if slot is not None else None
            return self.resolve(ctx, nxt, target_type, depth + 1) if nxt is not None else None
        if origin.type in PASS_THROUGH_TYPES:
            nxt = g.input_link(origin, link.origin_slot) or g.input_link(origin, 0)
            return self.resolve(ctx, nxt, target_type, depth + 1) if nxt is not None else None
        if origin.type in VIRTUAL_TYPES:
            return None
        child = ctx.children.get(origin.key)
        if child is not None:
            inner = child.graph.links_into_output(link.origin_slot)
            return self.resolve(child, inner, target_type, depth + 1) if inner is not None else None
        return (_LINK, ctx.prefix + origin.key, link.origin_slot)

    # -- nodes ------------------------------------------------------------------------
    def convert(self) -> dict[str, Any]:
        self.build_contexts(_Ctx(self.wf.root, ""))
        for ctx in self.contexts:
            self.apply_primitives(ctx)
        output: dict[str, Any] = {}
        links: list[tuple[dict[str, Any], str]] = []
        unknown: list[str] = []
        for ctx in self.contexts:
            for node in ctx.graph.nodes.values():
                if node.mode in (MODE_NEVER, MODE_BYPASS) or node.type in VIRTUAL_TYPES:
                    continue
                if node.key in ctx.children:
                    continue
                if node.type not in self.defs and self.opts.unknown_nodes != "keep":
                    unknown.append(f"{node.where} ({node.type})")
                    continue
                exec_id = ctx.prefix + node.key
                inputs = self.node_inputs(ctx, node, exec_id, links)
                info = self.defs.info(node.type) or {}
                output[exec_id] = {"inputs": inputs, "class_type": node.type,
                                   "_meta": {"title": node.title or info.get("display_name") or node.type}}
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise WorkflowError(f"node types not known to the server: {', '.join(unknown[:5])}{more}")
        for inputs, name in links:  # prune links to nodes that were left out (muted upstream)
            v = inputs.get(name)
            if isinstance(v, list) and v and v[0] not in output:
                del inputs[name]
        return output

    def node_inputs(self, ctx: _Ctx, node: Node, exec_id: str, links: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        by_widget: dict[str, dict[str, Any]] = {}
        for inp in node.inputs:
            w = inp.get("widget")
            if isinstance(w, dict) and isinstance(w.get("name"), str):
                by_widget[w["name"]] = inp
        for slot, value, where in named_values(self.defs.layout(node.type), node.widgets_values):
            if slot.kind != "value":
                if where is not None:
                    self.legacy_companion(slot, value, inputs)
                continue
            if where is None and (slot.force_input or self.opts.missing_widgets == "omit"):
                continue
            conv = by_widget.get(slot.name)
            if self.era.drop_unlinked_converted and conv is not None and conv.get("link") is None:
                continue
            value = self.overrides.get((exec_id, slot.name), value)
            if isinstance(value, str):
                if self.opts.dynamic_prompts and slot.options.get("dynamicPrompts"):
                    value = resolve_dynamic_prompt(value, self.opts.rng)
                elif self.opts.text_replacements and slot.name == "filename_prefix" and node.type in SAVE_NODE_TYPES:
                    value = apply_text_replacements(value, lambda n, w: self.lookup_widget(ctx, n, w))
            inputs[slot.name] = {"__value__": value} if isinstance(value, list) else value
        g = ctx.graph
        for i, inp in enumerate(node.inputs):
            link = g.input_link(node, i)
            name = inp.get("name")
            if link is None or not isinstance(name, str):
                continue
            r = self.resolve(ctx, link, inp.get("type"))
            if r is None:
                continue
            if r[0] is _LINK:
                inputs[name] = [r[1], r[2]]
                links.append((inputs, name))
            else:
                v = r[1]
                inputs[name] = {"__value__": v} if isinstance(v, list) else v
        return inputs

    def legacy_companion(self, slot: WidgetSlot, value: Any, inputs: dict[str, Any]) -> None:
        """Companion widgets that older frontends sent along (see :mod:`.era`)."""
        if slot.kind == "upload" and self.era.upload_name:
            inputs[self.era.upload_name] = value
        elif slot.kind == "control" and isinstance(value, bool) and self.era.seed_toggle_name:
            inputs[self.era.seed_toggle_name] = value

    def lookup_widget(self, ctx: _Ctx, node_name: str, widget: str) -> Any:
        nodes = [n for n in ctx.graph.nodes.values() if n.properties.get("Node name for S&R") == node_name]
        if not nodes:
            nodes = [n for n in ctx.graph.nodes.values() if n.title == node_name]
        if not nodes or nodes[0].type not in self.defs:
            return None
        for slot, value, _ in named_values(self.defs.layout(nodes[0].type), nodes[0].widgets_values):
            if slot.name == widget:
                return "" if value is None else value
        return None


def compatible(a: Any, b: Any) -> bool:
    """LiteGraph's ``isValidConnection`` for two slot types."""
    if not a or not b or a == "*" or b == "*" or a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    sa = {t.strip().upper() for t in a.split(",")}
    sb = {t.strip().upper() for t in b.split(",")}
    return bool(sa & sb)


def bypass_slot(node: Node, slot: int, target_type: Any) -> int | None:
    """The input of bypassed ``node`` that stands in for its output ``slot`` (frontend's rule)."""
    inputs = node.inputs
    if not inputs:
        return None
    if target_type in ("*", "", None):
        return slot if slot < len(inputs) else 0
    out_type = node.outputs[slot].get("type") if slot < len(node.outputs) else None
    if slot < len(inputs):
        t = inputs[slot].get("type")
        if compatible(t, out_type) and compatible(t, target_type):
            return slot
    for i, inp in enumerate(inputs):
        if inp.get("type") == target_type:
            return i
    for i, inp in enumerate(inputs):
        if compatible(inp.get("type"), target_type):
            return i
    return None


def to_api(workflow: WorkflowLike, object_info: NodeDefs | dict[str, Any],
           options: ConvertOptions | None = None) -> dict[str, Any]:
    """Convert a UI-format workflow to an API prompt for the server described by ``object_info``.

    ``workflow`` is the parsed model (:class:`ParsedWorkflow`), or a raw UI workflow / graph
    parsed here. Raises :class:`WorkflowError` naming the place for malformed workflows and
    listing node types the server does not know.
    """
    wf = ParsedWorkflow.of(workflow).graph
    defs = NodeDefs.of(object_info)
    if any(is_group_node_type(n.type) for n in wf.root.nodes.values()):
        wf = expand_group_nodes(wf, defs)
    opts = options or ConvertOptions()
    return _Converter(wf, defs, opts).convert()
