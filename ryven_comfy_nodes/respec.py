"""Give a workflow node another workflow: ports regenerated, fitting connections kept (Qt-free).

Used by the sync from the embedded ComfyUI editor (and its undo). Ports are matched by
identity, not position: an image input by its id, a parameter port by its parameter id, an
output by its output id, ``status`` by itself. A connection survives when its port exists in
the new spec; the others are listed by :func:`plan` before anything changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ryvencore import Data

from .workflow_node import WorkflowNode
from .workflow_spec import WorkflowSpec

PortKey = tuple[str, str]   # ("image" | "param" | "output" | "status", id)


def input_keys(spec: WorkflowSpec) -> list[PortKey]:
    """The node's input ports in order, by identity."""
    return [("image", i.id) for i in spec.image_inputs] + [("param", p.id) for p in spec.params]


def output_keys(spec: WorkflowSpec) -> list[PortKey]:
    """The node's output ports in order, by identity (``status`` last)."""
    return [("output", o.id) for o in spec.outputs] + [("status", "status")]


def _labels(spec: WorkflowSpec) -> dict[PortKey, str]:
    out: dict[PortKey, str] = {("image", i.id): i.label for i in spec.image_inputs}
    out.update({("param", p.id): p.label for p in spec.params})
    out.update({("output", o.id): o.label for o in spec.outputs})
    out[("status", "status")] = "status"
    return out


@dataclass
class Wire:
    """One connection of the node: ``mine`` is its port here, ``other`` the port at the other end."""

    mine: PortKey
    incoming: bool
    other: Any            # a ryvencore NodeOutput (incoming) or NodeInput (outgoing)
    text: str             # for the dialog: "Seed ← Int (3)"


@dataclass
class Plan:
    """What replacing the node's spec does to its ports and connections."""

    added: list[str] = field(default_factory=list)      # port labels
    removed: list[str] = field(default_factory=list)
    kept: list[Wire] = field(default_factory=list)
    dropped: list[Wire] = field(default_factory=list)

    @property
    def changes_ports(self) -> bool:
        return bool(self.added or self.removed)


def _wires(node: WorkflowNode) -> list[Wire]:
    flow = node.flow
    ins, outs = input_keys(node.spec), output_keys(node.spec)
    labels = _labels(node.spec)
    wires: list[Wire] = []
    for key, inp in zip(ins, node.inputs):
        src = flow.connected_output(inp)
        if src is not None:
            wires.append(Wire(key, True, src, f"{labels[key]} ← {src.node.title}"))
    for key, out in zip(outs, node.outputs):
        for dst in flow.connected_inputs(out):
            wires.append(Wire(key, False, dst, f"{labels[key]} → {dst.node.title}"))
    return wires


def plan(node: WorkflowNode, new: WorkflowSpec) -> Plan:
    """What :func:`apply` would do, changing nothing."""
    old_keys = input_keys(node.spec) + output_keys(node.spec)
    new_keys = input_keys(new) + output_keys(new)
    old_labels, new_labels = _labels(node.spec), _labels(new)
    p = Plan(added=[new_labels[k] for k in new_keys if k not in old_keys],
             removed=[old_labels[k] for k in old_keys if k not in new_keys])
    fits = set(new_keys)
    for w in _wires(node):
        (p.kept if w.mine in fits else p.dropped).append(w)
    return p


@dataclass
class Snapshot:
    """What a node was before :func:`apply`: enough to put it back (undo).

    ``wires`` None: the connections the node has when it is put back (those that fit).
    ``inputs``/``outputs`` are the node's port objects themselves: putting back the very same
    objects keeps every (output, input) pair that Ryven's undo stack holds valid.
    """

    spec: WorkflowSpec
    values: dict[str, Any]
    wires: list[Wire] | None
    inputs: list[Any] | None = None
    outputs: list[Any] | None = None


def _still_there(flow: Any, w: Wire) -> bool:
    # the other end's node may have been removed, or that node's ports regenerated since
    return w.other in (flow.graph_adj if w.incoming else flow.graph_adj_rev)


def apply(node: WorkflowNode, new: WorkflowSpec, values: dict[str, Any],
          wires: list[Wire] | None = None, ports: tuple[list[Any], list[Any]] | None = None) -> Snapshot:
    """Replace the node's spec and values, regenerate its ports, reconnect what fits; returns the old state.

    ``wires`` (from an undo) are reconnected first, where both ends still exist, then the node's
    current connections that fit (made after the state being put back); ``ports`` (from an
    undo) are the port objects to put back instead of new ones.
    """
    flow = node.flow
    current = _wires(node)
    before = Snapshot(node.spec.model_copy(deep=True), dict(node.values), current,
                      list(node.inputs), list(node.outputs))
    wanted = current if wires is None else wires + current
    # disconnected here: ryvencore's delete_input/delete_output leave the connection in the graph
    for w in current:
        flow.remove_connection((w.other, node.inputs[input_keys(node.spec).index(w.mine)]) if w.incoming
                               else (node.outputs[output_keys(node.spec).index(w.mine)], w.other))
    for i in reversed(range(len(node.inputs))):
        node.delete_input(i)
    for i in reversed(range(len(node.outputs))):
        node.delete_output(i)
    node.spec = new
    node.values = {p.id: values.get(p.id, p.default) for p in new.params}
    if ports is None:
        ins, outs = WorkflowNode.ports_for(new)
        for t in ins:
            node.create_input(label=t.label, default=t.default)
        for t in outs:
            node.create_output(label=t.label)
    else:
        # the old port objects go back the way Node.create_input/create_output add new ones
        for inp in ports[0]:
            node.inputs.append(inp)
            node.input_added.emit(node, len(node.inputs) - 1, inp)
        for out in ports[1]:
            node.outputs.append(out)
            node.output_added.emit(node, len(node.outputs) - 1, out)
    for p in new.params:
        node.inputs[node.param_input_index(p.id)].default = Data(node.values[p.id])
    in_at = {k: i for i, k in enumerate(input_keys(new))}
    out_at = {k: i for i, k in enumerate(output_keys(new))}
    for w in wanted:
        if not _still_there(flow, w):
            continue
        if w.incoming and w.mine in in_at and flow.connected_output(node.inputs[in_at[w.mine]]) is None:
            flow.add_connection((w.other, node.inputs[in_at[w.mine]]))
        elif not w.incoming and w.mine in out_at and flow.connected_output(w.other) is None:
            flow.add_connection((node.outputs[out_at[w.mine]], w.other))
    node.params_changed.emit()
    node.run_changed.emit()
    return before


def restore(node: WorkflowNode, snap: Snapshot) -> Snapshot:
    """Put back the node as it was (its own port objects, when kept, and its connections where
    their other end still exists); returns the state it replaced, to switch back (redo)."""
    ports = (snap.inputs, snap.outputs) if snap.inputs is not None and snap.outputs is not None else None
    return apply(node, snap.spec, snap.values, snap.wires, ports)
