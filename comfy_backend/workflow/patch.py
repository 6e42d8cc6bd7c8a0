"""Write values into workflows, and apply seed control before submitting.

Values are addressed by node id + input name. In an API prompt the input is set
directly; in a UI workflow the value goes to its place in ``widgets_values`` (found with
the server's node definitions), so the web editor shows it. The server ignores the
``control_after_generate`` widget; the frontend applies it in the browser after queueing.
We apply it ourselves: :func:`apply_seed_control` gives run ``i`` of a batch its seed.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any, overload

from ..errors import WorkflowError
from .api_format import is_link
from .graph import Node, Workflow
from .groupnodes import expand_group_nodes, group_widget_position, is_group_node_type
from .nodedefs import NodeDefs
from .parsed import ParsedWorkflow, WorkflowLike
from .seeds import SEED_MAX, random_seed
from .subgraph_fields import find_inner_widget, inner_widgets, instances
from .widgets import named_values

Values = Mapping[tuple[str, str], Any]
CONTROL_MODES = ("fixed", "increment", "decrement", "randomize")


@overload
def apply_values(workflow: ParsedWorkflow, values: Values,
                 object_info: NodeDefs | dict[str, Any] | None = None) -> ParsedWorkflow: ...
@overload
def apply_values(workflow: dict[str, Any] | Workflow, values: Values,
                 object_info: NodeDefs | dict[str, Any] | None = None) -> dict[str, Any]: ...
def apply_values(workflow: WorkflowLike, values: Values,
                 object_info: NodeDefs | dict[str, Any] | None = None) -> ParsedWorkflow | dict[str, Any]:
    """A copy of ``workflow`` (UI or API) with ``{(node_id, input): value}`` written in.

    Given the parsed model, returns the model of the copy (to pass on, e.g. to
    :func:`~.convert.to_api`); given a dict or a graph, a dict.
    """
    model = ParsedWorkflow.of(workflow)
    if model.is_ui:
        out = _patch_ui(model, values, NodeDefs.of(object_info))
    else:
        out = ParsedWorkflow(patch_api(model.raw, values, object_info), "api", model.source)
    return out if isinstance(workflow, ParsedWorkflow) else out.raw


def _wrap(v: Any) -> Any:
    return {"__value__": v} if isinstance(v, list) else v


def patch_api(prompt: dict[str, Any], values: Values,
              object_info: NodeDefs | dict[str, Any] | None = None) -> dict[str, Any]:
    """Set inputs of an API prompt. A missing input is added only if the node class declares it."""
    defs = NodeDefs.of(object_info)
    out = copy.deepcopy(prompt)
    for (nid, name), value in values.items():
        node = out.get(str(nid))
        if not isinstance(node, dict):
            raise WorkflowError(f"[{nid!r}]: no such node in the prompt")
        inputs = node.setdefault("inputs", {})
        if name not in inputs and defs.input(str(node.get("class_type")), name) is None:
            raise WorkflowError(f"[{nid!r}].inputs.{name}: node {nid} ({node.get('class_type')}) has no input {name!r}")
        if is_link(inputs.get(name)):
            raise WorkflowError(f"[{nid!r}].inputs.{name}: the input is linked to another node, not a value")
        inputs[name] = _wrap(value)
    return out


def patch_ui(workflow: WorkflowLike, values: Values,
             object_info: NodeDefs | dict[str, Any] | None = None) -> dict[str, Any]:
    """Set widget values of a UI workflow in ``widgets_values``.

    Positions come from the server's node definitions; without them, only nodes that
    name their widgets (dict-shaped ``widgets_values``, ``widgets_values_named``, or one
    widget socket per value) can be patched. Nodes inside subgraph instances are addressed
    by their prompt id (``outer:inner``): a promoted value is written on the host node,
    any other into the subgraph definition, which is refused when several nodes share it.
    """
    return _patch_ui(ParsedWorkflow.of(workflow), values, NodeDefs.of(object_info)).raw


def _patch_ui(model: ParsedWorkflow, values: Values, defs: NodeDefs) -> ParsedWorkflow:
    raw = copy.deepcopy(model.raw)
    wf = ParsedWorkflow(raw, "ui", model.source).graph   # the graph of the copy: where the values go
    for (nid, name), value in values.items():
        node = wf.root.nodes.get(str(nid))
        if node is None:
            if ":" not in str(nid):
                raise WorkflowError(f"nodes: no node with id {nid!r}")
            in_group = group_widget_position(wf, defs, str(nid), name)
            if in_group is not None:  # a legacy group node holds its inner nodes' values
                in_group[0].raw["widgets_values"][in_group[1]] = value
            else:
                _patch_inner(wf, defs, str(nid), name, value)
            continue
        for inp in node.inputs:
            w = inp.get("widget")
            if (inp.get("name") == name or (isinstance(w, dict) and w.get("name") == name)) and inp.get("link") is not None:
                raise WorkflowError(f"{node.where}.inputs: {name!r} is linked to another node, not a value")
        wv = node.raw.get("widgets_values")
        if isinstance(wv, dict):
            wv[name] = value
            continue
        if node.type == "PrimitiveNode" and name == "value" and isinstance(wv, list) and wv:
            wv[0] = value
            continue
        write_widget(node, name, value, defs)
    # a fresh model: writing may have replaced lists the graph above still points at
    return ParsedWorkflow(raw, "ui", model.source)


def write_widget(node: Node, name: str, value: Any, defs: NodeDefs) -> None:
    """Write widget ``name`` of ``node`` into its ``widgets_values`` (positions from ``defs``)."""
    raw = node.raw
    if node.type not in defs:
        raise WorkflowError(f"{node.where}: node type {node.type!r} is not in the server's object_info; "
                            "cannot locate its widget values by name")
    slots = defs.layout(node.type)
    wv = raw.get("widgets_values")
    if isinstance(wv, dict):
        wv[name] = value
        return
    if not isinstance(wv, list):
        wv = raw["widgets_values"] = [s.default for s in slots]
    for slot, _old, where in named_values(slots, wv):
        if slot.kind == "value" and slot.name == name:
            if where is None:
                # the saved workflow has no value for it yet: extend to the full layout
                wv[:] = [v for _s, v, _w in named_values(slots, wv)]
                where = [s.name for s in slots].index(name)
            wv[int(where)] = value  # a list index: wv is a list here
            break
    else:
        names = [s.name for s in slots if s.kind == "value"]
        raise WorkflowError(f"{node.where}: {node.type} has no widget {name!r} (widgets: {', '.join(names) or 'none'})")
    named = raw.get("widgets_values_named")
    if isinstance(named, dict) and name in named:
        named[name] = value


def _patch_inner(wf: Workflow, defs: NodeDefs, exec_id: str, name: str, value: Any) -> None:
    """A widget of a node inside a subgraph instance: on the host when promoted, else in the definition."""
    iw = find_inner_widget(wf, defs, exec_id, name)
    if iw.definition is not None and (n := instances(wf, iw.definition)) > 1:
        where = "the promoted value lives on a node" if iw.promoted else "the value lives"
        raise WorkflowError(f"node {exec_id}: {where} inside subgraph definition {iw.definition} that {n} nodes "
                            f"use, so setting {name!r} would change all of them; promote the widget to the "
                            "subgraph node in the editor")
    if not iw.promoted:
        write_widget(iw.node, name, value, defs)
        return
    wv = iw.owner.raw.get("widgets_values")
    if not isinstance(wv, list) or iw.owner_index is None:
        raise WorkflowError(f"{iw.owner.where}.widgets_values: no promoted value to set for {exec_id}.{name}")
    wv[iw.owner_index] = value


# -- seed control ------------------------------------------------------------------------
def seed_controls(workflow: WorkflowLike, object_info: NodeDefs | dict[str, Any] | None = None) -> dict[tuple[str, str], str]:
    """``{(node_id, input): mode}`` for every widget with a control value in a UI workflow.

    The early-2023 boolean toggle reads as ``randomize`` (true) or ``fixed`` (false).
    """
    model = ParsedWorkflow.of(workflow)
    if not model.is_ui:
        return {}
    defs = NodeDefs.of(object_info)
    out: dict[tuple[str, str], str] = {}
    wf = model.graph
    if any(is_group_node_type(n.type) for n in wf.root.nodes.values()):
        wf = expand_group_nodes(wf, defs, strict=False)   # group seeds under their prompt ids
    g = wf.root
    for node in g.nodes.values():
        if node.type == "PrimitiveNode":
            wv = node.widgets_values
            if isinstance(wv, list) and len(wv) > 1 and wv[1] in CONTROL_MODES:
                for link in g.links.values():  # the control moves the value of every target widget
                    t = g.nodes.get(link.target_id)
                    if link.origin_id == node.key and t is not None and link.target_slot < len(t.inputs):
                        w = t.inputs[link.target_slot].get("widget")
                        if isinstance(w, dict) and isinstance(w.get("name"), str):
                            out[(t.key, w["name"])] = wv[1]
            continue
        if node.type not in defs:
            continue
        for slot, value, where in named_values(defs.layout(node.type), node.widgets_values):
            if slot.kind == "control" and slot.target and where is not None:
                out[(node.key, slot.target)] = _mode(value)
    for iw in inner_widgets(wf, defs):
        if iw.control is not None:
            out[(iw.exec_id, iw.slot.name)] = _mode(iw.control)
    return out


def _mode(value: Any) -> str:
    return value if value in CONTROL_MODES else ("randomize" if value is True else "fixed")


def next_value(value: int, mode: str, *, index: int = 1, minimum: int = 0,
               maximum: int = SEED_MAX, rng: random.Random | None = None) -> int:
    """The value after ``index`` applications of control ``mode`` (clamped as the frontend does;
    ``randomize`` draws by the one seed rule, :func:`~.seeds.random_seed`)."""
    if mode not in CONTROL_MODES:
        raise WorkflowError(f"seed control {mode!r}: expected one of {', '.join(CONTROL_MODES)}")
    if index == 0 or mode == "fixed":
        return value
    if mode == "randomize":
        return random_seed(minimum, maximum, rng)
    v = value + index if mode == "increment" else value - index
    return max(minimum, min(maximum, v))


def apply_seed_control(prompt: dict[str, Any], controls: Mapping[tuple[str, str], str], index: int, *,
                       object_info: NodeDefs | dict[str, Any] | None = None,
                       rng: random.Random | None = None) -> dict[str, Any]:
    """The API prompt for run ``index`` of a batch: each controlled literal input moved ``index`` steps.

    Run 0 is the workflow as saved (the frontend also applies control *after* queueing).
    """
    if index == 0 or not controls:
        return prompt
    defs = NodeDefs.of(object_info)
    out = copy.deepcopy(prompt)
    for (nid, name), mode in controls.items():
        node = out.get(nid)
        if not isinstance(node, dict):
            continue
        v = (node.get("inputs") or {}).get(name)
        if isinstance(v, bool) or not isinstance(v, int):
            continue
        d = defs.input(str(node.get("class_type")), name)
        lo = d.options.get("min", 0) if d else 0
        hi = d.options.get("max", SEED_MAX) if d else SEED_MAX
        node["inputs"][name] = next_value(v, mode, index=index, minimum=int(lo), maximum=int(hi), rng=rng)
    return out
