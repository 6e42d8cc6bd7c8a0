"""Parameters of a workflow: every settable field, the usual ones, and exposed parameters.

A *field* is one widget input of one node, keyed by node id + input name (the widget
index is kept only as a fallback and for writing back into ``widgets_values``). An
:class:`ExposedParameter` is a field a user chose to show on a Ryven node, with a label
and the constraints its values are checked against. Works on UI workflows and API
prompts; ``object_info`` (the target server's node definitions) adds types, defaults,
ranges and choices, and is needed to name the positional values of UI workflows.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import Field as PydField

from ..errors import ParameterError
from .api_format import is_link
from .graph import MODE_BYPASS, MODE_NEVER, VIRTUAL_TYPES, Workflow
from .groupnodes import expand_group_nodes, is_group_node_type
from .nodedefs import InputDef, NodeDefs, WidgetSlot
from .parsed import ParsedWorkflow, WorkflowLike
from .subgraph_fields import inner_widgets
from .widgets import named_values


class Constraints(BaseModel):
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[Any] | None = None
    multiline: bool = False


class Field(BaseModel):
    """One settable widget input of one node."""

    node_id: str
    input_name: str
    widget_index: int | None = None
    node_type: str
    node_title: str
    type: str = "*"
    value: Any = None
    default: Any = None
    constraints: Constraints = PydField(default_factory=Constraints)
    #: the seed control stored next to it in the UI workflow (fixed/increment/decrement/randomize)
    control: str | None = None
    #: the label the editor shows for it, when not "title input" (a subgraph input's name);
    #: not part of the JSON form, which stays as it was
    label: str | None = PydField(default=None, exclude=True)

    @property
    def key(self) -> str:
        return f"{self.node_id}.{self.input_name}"


class ExposedParameter(BaseModel):
    """A field shown to the user: id, label, where it writes, and what values it accepts."""

    id: str
    label: str
    node_id: str
    input_name: str
    widget_index: int | None = None
    type: str = "*"
    default: Any = None
    constraints: Constraints = PydField(default_factory=Constraints)

    def check(self, value: Any) -> Any:
        """Return ``value`` (ints widened to float for FLOAT) or raise ParameterError saying why not."""
        return check_value(value, self.type, self.constraints, f"parameter {self.id!r}")


class Port(BaseModel):
    """A media input (LoadImage-like) or output (Save/Preview-like) of the workflow."""

    direction: Literal["input", "output"]
    node_id: str
    node_type: str
    title: str
    media: Literal["image", "mask", "video", "audio", "other"]
    input_name: str | None = None   # for inputs: the widget holding the file name


class Binding(BaseModel):
    """How an exposed parameter fares in a new version of its workflow."""

    parameter: ExposedParameter
    status: Literal["ok", "moved", "broken"]
    reason: str = ""
    node_id: str | None = None      # where it binds now (ok/moved)


# -- values -----------------------------------------------------------------------------
def check_value(value: Any, typ: str, c: Constraints, what: str) -> Any:
    if typ == "INT":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{what}: expected an integer, got {value!r}")
    elif typ == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{what}: expected a number, got {value!r}")
        value = float(value)
    elif typ == "BOOLEAN":
        if not isinstance(value, bool):
            raise ParameterError(f"{what}: expected true or false, got {value!r}")
    elif typ == "STRING" and not isinstance(value, str):
        raise ParameterError(f"{what}: expected text, got {value!r}")
    if typ in ("INT", "FLOAT"):
        if c.min is not None and value < c.min:
            raise ParameterError(f"{what}: {value} is below the minimum {_num(c.min)}")
        if c.max is not None and value > c.max:
            raise ParameterError(f"{what}: {value} is above the maximum {_num(c.max)}")
    if c.choices and value not in c.choices:
        shown = ", ".join(repr(x) for x in c.choices[:8]) + (" …" if len(c.choices) > 8 else "")
        raise ParameterError(f"{what}: {value!r} is not one of {shown}")
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def constraints_of(d: InputDef | WidgetSlot | None) -> Constraints:
    if d is None:
        return Constraints()
    o = d.options
    nums = {k: o.get(k) for k in ("min", "max", "step") if isinstance(o.get(k), (int, float)) and not isinstance(o.get(k), bool)}
    return Constraints(**nums, choices=list(d.choices) if d.choices else None, multiline=bool(o.get("multiline")))


def _default(d: InputDef | WidgetSlot | None) -> Any:
    if d is None:
        return None
    if isinstance(d, WidgetSlot):
        return d.default
    return WidgetSlot(d.name, "value", d.type, d.options, d.choices).default


# -- listing ----------------------------------------------------------------------------
def list_fields(workflow: WorkflowLike, object_info: NodeDefs | dict[str, Any] | None = None) -> list[Field]:
    """Every settable widget input of every node, in node order.

    Nodes inside subgraph instances follow, under their API prompt ids (``outer:inner``),
    with the value the instance uses (a promoted value owned by the host, or the inner
    node's own). Linked inputs are not settable and are left out; muted/bypassed and frontend-only
    nodes (notes, reroutes) too. Without ``object_info`` a UI workflow's values are named
    from its own widget input sockets (or ``widget_N`` when that is not possible).
    """
    defs = NodeDefs.of(object_info)
    model = ParsedWorkflow.of(workflow)
    if model.is_ui:
        return _ui_fields(model.graph, defs)
    out: list[Field] = []
    for nid, node in model.raw.items():
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
            continue
        ct = str(node.get("class_type"))
        title = (node.get("_meta") or {}).get("title") or ct
        for name, value in node["inputs"].items():
            if is_link(value):
                continue
            d = defs.input(ct, name) if ct in defs else None
            if isinstance(value, dict) and "__value__" in value:
                value = value["__value__"]
            out.append(Field(node_id=str(nid), input_name=name, node_type=ct, node_title=str(title),
                             type=d.type if d else _guess_type(value), value=value, default=_default(d),
                             constraints=constraints_of(d)))
    return out


def _guess_type(v: Any) -> str:
    if isinstance(v, bool):
        return "BOOLEAN"
    if isinstance(v, int):
        return "INT"
    if isinstance(v, float):
        return "FLOAT"
    if isinstance(v, str):
        return "STRING"
    return "*"


def _ui_fields(wf: Workflow, defs: NodeDefs) -> list[Field]:
    if any(is_group_node_type(n.type) for n in wf.root.nodes.values()):
        wf = expand_group_nodes(wf, defs, strict=False)   # inner nodes under their prompt ids
    out: list[Field] = []
    for node in wf.root.nodes.values():
        if node.mode in (MODE_NEVER, MODE_BYPASS) or (node.type in VIRTUAL_TYPES and node.type != "PrimitiveNode"):
            continue
        linked = {str(i.get("widget", {}).get("name") if isinstance(i.get("widget"), dict) else i.get("name"))
                  for i in node.inputs if i.get("link") is not None}
        title = node.title or (defs.info(node.type) or {}).get("display_name") or node.type
        if node.type == "PrimitiveNode":
            wv = node.widgets_values
            if isinstance(wv, list) and wv:
                out.append(Field(node_id=node.key, input_name="value", widget_index=0, node_type=node.type,
                                 node_title=title, type=_guess_type(wv[0]), value=wv[0],
                                 control=wv[1] if len(wv) > 1 and isinstance(wv[1], str) else None))
            continue
        if node.type in wf.subgraphs:
            continue  # its widgets are listed below, under the ids of the inner nodes
        if node.type in defs:
            vals = named_values(defs.layout(node.type), node.widgets_values)
            controls = {s.target: v for s, v, _ in vals if s.kind == "control"}
            for slot, value, where in vals:
                if slot.kind != "value" or slot.name in linked or (slot.force_input and where is None):
                    continue
                out.append(Field(node_id=node.key, input_name=slot.name,
                                 widget_index=where if isinstance(where, int) else None,
                                 node_type=node.type, node_title=title, type=slot.type, value=value,
                                 default=slot.default, constraints=constraints_of(slot),
                                 control=controls.get(slot.name) if isinstance(controls.get(slot.name), str) else None))
        else:
            out.extend(_fields_without_defs(node, title, linked))
    for iw in inner_widgets(wf, defs):
        out.append(Field(node_id=iw.exec_id, input_name=iw.slot.name, node_type=iw.node.type, node_title=iw.title,
                         type=iw.slot.type, value=iw.value, default=iw.slot.default, constraints=constraints_of(iw.slot),
                         control=iw.control if isinstance(iw.control, str) else None, label=iw.subgraph_input))
    return out


def _fields_without_defs(node: Any, title: str, linked: set[str]) -> list[Field]:
    wv = node.widgets_values
    if isinstance(wv, dict):
        return [Field(node_id=node.key, input_name=k, node_type=node.type, node_title=title,
                      type=_guess_type(v), value=v) for k, v in wv.items() if k not in linked]
    if not isinstance(wv, list):
        return []
    names = [i["widget"]["name"] for i in node.inputs if isinstance(i.get("widget"), dict) and "name" in i["widget"]]
    controls = [k for k, v in enumerate(wv) if v in ("fixed", "increment", "decrement", "randomize") and k > 0]
    values = [(k, v) for k, v in enumerate(wv) if k not in controls]
    if len(names) != len(values):
        names = [f"widget_{k}" for k, _ in values]
    return [Field(node_id=node.key, input_name=n, widget_index=k, node_type=node.type, node_title=title,
                  type=_guess_type(v), value=v) for n, (k, v) in zip(names, values) if n not in linked]


# -- exposing ---------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "param"


def expose(field: Field, *, label: str | None = None, id: str | None = None,
           taken: set[str] | None = None) -> ExposedParameter:
    """An ExposedParameter for ``field``; ``id`` defaults to a slug of the label, unique within ``taken``."""
    label = label or field.label or f"{field.node_title} {field.input_name}"
    pid = id or _slug(label)
    if taken is not None:
        base, n = pid, 2
        while pid in taken:
            pid, n = f"{base}_{n}", n + 1
        taken.add(pid)
    return ExposedParameter(id=pid, label=label, node_id=field.node_id, input_name=field.input_name,
                            widget_index=field.widget_index, type=field.type,
                            default=field.value if field.value is not None else field.default,
                            constraints=field.constraints)


def rename(param: ExposedParameter, label: str) -> ExposedParameter:
    return param.model_copy(update={"label": label})


def unexpose(params: list[ExposedParameter], param_id: str) -> list[ExposedParameter]:
    if not any(p.id == param_id for p in params):
        raise ParameterError(f"no exposed parameter {param_id!r}")
    return [p for p in params if p.id != param_id]


def values_for(params: list[ExposedParameter], values: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """Check ``{parameter id: value}`` and turn it into ``{(node_id, input): value}`` for patching."""
    by_id = {p.id: p for p in params}
    out: dict[tuple[str, str], Any] = {}
    for pid, v in values.items():
        p = by_id.get(pid)
        if p is None:
            raise ParameterError(f"no exposed parameter {pid!r} (have: {', '.join(by_id) or 'none'})")
        out[(p.node_id, p.input_name)] = p.check(v)
    return out


# -- re-binding -------------------------------------------------------------------------
def rebind(params: list[ExposedParameter], old: WorkflowLike, new: WorkflowLike,
           object_info: NodeDefs | dict[str, Any] | None = None) -> list[Binding]:
    """Which exposures of ``old`` still bind in ``new``, which moved, which broke (and why)."""
    defs = NodeDefs.of(object_info)
    new = ParsedWorkflow.of(new)
    old_fields = {(f.node_id, f.input_name): f for f in list_fields(old, defs)}
    new_fields = list_fields(new, defs)
    new_by_key = {(f.node_id, f.input_name): f for f in new_fields}
    new_nodes = _node_index(new)
    out: list[Binding] = []
    for p in params:
        was = old_fields.get((p.node_id, p.input_name))
        now = new_by_key.get((p.node_id, p.input_name))
        if now is not None and (was is None or now.node_type == was.node_type):
            out.append(Binding(parameter=p.model_copy(update={"widget_index": now.widget_index}), status="ok", node_id=now.node_id))
            continue
        node = new_nodes.get(p.node_id)
        node_type = was.node_type if was else None
        if node is not None and (node_type is None or node["type"] == node_type):
            if p.input_name in node["linked"]:
                reason = f"input {p.input_name!r} of node {p.node_id} is now linked to another node"
            else:
                reason = f"node {p.node_id} ({node['type']}) has no input {p.input_name!r} any more"
            out.append(Binding(parameter=p, status="broken", reason=reason))
            continue
        # look for the same node under a new id: same type and title, unique among the new nodes
        old_ids = {k[0] for k in old_fields}
        cands = [f for f in new_fields if was and f.node_id not in old_ids and f.input_name == p.input_name
                 and f.node_type == was.node_type and f.node_title == was.node_title]
        if len(cands) == 1:
            f = cands[0]
            out.append(Binding(parameter=p.model_copy(update={"node_id": f.node_id, "widget_index": f.widget_index}),
                               status="moved", reason=f"node {p.node_id} is now node {f.node_id}", node_id=f.node_id))
        elif node is not None:
            out.append(Binding(parameter=p, status="broken",
                               reason=f"node {p.node_id} is now a {node['type']}, was {node_type}"))
        else:
            out.append(Binding(parameter=p, status="broken", reason=f"node {p.node_id} was deleted"))
    return out


def _node_index(model: ParsedWorkflow) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if model.is_ui:
        for n in model.graph.root.nodes.values():
            linked = {i.get("name") for i in n.inputs if i.get("link") is not None}
            linked |= {i["widget"].get("name") for i in n.inputs if isinstance(i.get("widget"), dict) and i.get("link") is not None}
            out[n.key] = {"type": n.type, "linked": linked}
    else:
        for nid, n in model.raw.items():
            if isinstance(n, dict):
                ins = n["inputs"] if isinstance(n.get("inputs"), dict) else {}
                out[str(nid)] = {"type": n.get("class_type"), "linked": {k for k, v in ins.items() if is_link(v)}}
    return out


__all__ = ["Binding", "Constraints", "ExposedParameter", "Field", "ParameterError", "Port", "WorkflowLike",
           "check_value", "expose", "list_fields", "rebind", "rename", "unexpose", "values_for"]
