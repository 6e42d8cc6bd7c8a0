"""The pickle-free project format: ``*.orchestrator.json`` (pydantic, versioned, validated).

Ryven's own project files pickle node state, so opening one from someone else
can run code. This format holds only plain data: per flow its nodes (kind,
workflow spec, values, target, position) and connections by port index. It is
read by the editor (import) and by ``ryven-comfy run``, and written by export
and autosave.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from ryvencore import Data, Flow, Node, Session
from ryvencore.utils import serialize

from comfy_backend import WorkflowError, atomic_write_text

from .classes import full_identifier, new_session, register, workflow_class
from .loops import find_loop, refuse_loop
from .utility_nodes import ImageFileNode, NumberNode, PreviewNode, SaveOutputsNode, SeedNode, TextNode
from .workflow_node import STATE_VERSION, WorkflowNode
from .workflow_spec import TargetSpec, WorkflowSpec

FORMAT = "ryven-comfy.orchestrator"
VERSION = 2  # 2: workflow specs may hold their UI workflow (``spec.ui``); version 1 files still load
SUFFIX = ".orchestrator.json"
Kind = Literal["workflow", "image", "text", "number", "seed", "preview", "save"]
_KIND_CLASS: dict[str, type[Node]] = {
    "image": ImageFileNode, "text": TextNode, "number": NumberNode, "seed": SeedNode,
    "preview": PreviewNode, "save": SaveOutputsNode,
}
_CLASS_KIND = {v: k for k, v in _KIND_CLASS.items()}


class NodeEntry(BaseModel):
    id: str
    kind: Kind
    pos: tuple[float, float] = (0.0, 0.0)
    spec: WorkflowSpec | None = None                         # workflow nodes
    values: dict[str, Any] = Field(default_factory=dict)     # workflow nodes: parameter id -> value
    target: TargetSpec = Field(default_factory=TargetSpec)   # workflow nodes
    randomize: list[str] = Field(default_factory=list)       # workflow nodes: SEED params drawn per run
    inputs: dict[str, Any] = Field(default_factory=dict)     # utility nodes: input label -> value


class Connection(BaseModel):
    from_node: str
    from_output: int
    to_node: str
    to_input: int


class FlowEntry(BaseModel):
    title: str = "main"
    nodes: list[NodeEntry] = Field(default_factory=list)
    connections: list[Connection] = Field(default_factory=list)


class OrchestratorProject(BaseModel):
    format: Literal["ryven-comfy.orchestrator"] = FORMAT
    version: Literal[1, 2] = VERSION
    flows: list[FlowEntry] = Field(default_factory=list)


def is_orchestrator_file(path: str | Path) -> bool:
    return str(path).endswith(SUFFIX)


#: deeper than any project we or Ryven write; deeper files are refused before anything walks them
MAX_DEPTH = 200


def read_project_json(path: str | Path) -> Any:
    """The parsed JSON of a project file (ours or Ryven's); unreadable, malformed or absurdly
    nested files raise ``WorkflowError``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except RecursionError:
        raise WorkflowError(f"{p}: not a usable project: nested too deeply") from None
    except FileNotFoundError:
        raise WorkflowError(f"{p}: project file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkflowError(f"{p}: not a JSON project ({exc})") from None
    except OSError as exc:
        raise WorkflowError(f"{p}: cannot read the project: {exc.strerror}") from None
    if _depth(data) > MAX_DEPTH:
        raise WorkflowError(f"{p}: not a usable project: nested more than {MAX_DEPTH} levels deep")
    return data


def _depth(data: Any) -> int:
    """How deeply lists and objects nest in ``data`` (iterative: any depth is measured safely)."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((c, depth + 1) for c in children)
    return deepest


def load_orchestrator(path: str | Path) -> OrchestratorProject:
    return parse_orchestrator(read_project_json(path), str(path))


def parse_orchestrator(data: Any, source: str = "project") -> OrchestratorProject:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WorkflowError(f"{source}: not a ryven-comfy project (expected \"format\": \"{FORMAT}\")")
    try:
        project = OrchestratorProject.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise WorkflowError(f"{source}: {where}: {first['msg']}") from None
    for flow in project.flows:
        ids = [n.id for n in flow.nodes]
        for n in flow.nodes:
            if n.kind == "workflow" and n.spec is None:
                raise WorkflowError(f"{source}: flow {flow.title!r} node {n.id!r}: a workflow node needs a spec")
        for c in flow.connections:
            for nid in (c.from_node, c.to_node):
                if nid not in ids:
                    raise WorkflowError(f"{source}: flow {flow.title!r}: connection names unknown node {nid!r}")
        fed_by: dict[str, list[str]] = {}
        for c in flow.connections:
            fed_by.setdefault(c.to_node, []).append(c.from_node)
        names = {n.id: f"{n.id} ({n.spec.title if n.spec is not None else n.kind})" for n in flow.nodes}
        refuse_loop(find_loop(ids, lambda nid, fed_by=fed_by: fed_by.get(nid, [])), names.__getitem__,
                    f"{source}: flow {flow.title!r}")
    return project


def save_orchestrator(project: OrchestratorProject, path: str | Path) -> None:
    atomic_write_text(Path(path), project.model_dump_json(indent=1))


# -- live flows -> file ---------------------------------------------------------------------------
def export_flows(flows: list[Flow], pos_of: Callable[[Node], tuple[float, float]] | None = None) -> OrchestratorProject:
    """The flows as a pickle-free project (positions from ``pos_of``, else from the loaded data)."""
    out = []
    for flow in flows:
        ids = {n: f"n{i + 1}" for i, n in enumerate(flow.nodes)}
        entries = []
        for node in flow.nodes:
            pos = pos_of(node) if pos_of else _loaded_pos(node)
            if isinstance(node, WorkflowNode):
                entries.append(NodeEntry(id=ids[node], kind="workflow", pos=pos, spec=node.spec,
                                         values=dict(node.values), target=node.target, randomize=sorted(node.randomize)))
            elif type(node) in _CLASS_KIND:
                inputs = {inp.label_str: inp.default.payload for inp in node.inputs
                          if inp.default is not None and flow.connected_output(inp) is None}
                entries.append(NodeEntry(id=ids[node], kind=_CLASS_KIND[type(node)], pos=pos, inputs=inputs))
        conns = []
        for node in flow.nodes:
            if node not in ids:
                continue
            for j, inp in enumerate(node.inputs):
                src = flow.connected_output(inp)
                if src is not None and src.node in ids:
                    conns.append(Connection(from_node=ids[src.node], from_output=src.node.outputs.index(src),
                                            to_node=ids[node], to_input=j))
        out.append(FlowEntry(title=flow.title, nodes=entries, connections=conns))
    # a project without UI workflows stays version 1, readable by the versions before 2
    has_ui = any(n.spec is not None and n.spec.ui is not None for f in out for n in f.nodes)
    return OrchestratorProject(version=VERSION if has_ui else 1, flows=out)


def _loaded_pos(node: Node) -> tuple[float, float]:
    d = node.load_data or {}
    return (float(d.get("pos x", 0.0)), float(d.get("pos y", 0.0)))


# -- file -> live flows ------------------------------------------------------------------------------
_gid = itertools.count(10_000_000)


def _port(label: str, default: Any = None, has_default: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"GID": next(_gid), "type": "data", "label": label, "has widget": False}
    if has_default:
        d["default"] = Data(default).data()
    return d


def _node_data(entry: NodeEntry) -> tuple[type[Node], dict[str, Any]]:
    if entry.kind == "workflow":
        assert entry.spec is not None
        cls: type[Node] = workflow_class(entry.spec)
        spec = entry.spec
        values = {p.id: entry.values.get(p.id, p.default) for p in spec.params}
        inputs = [_port(i.label) for i in spec.image_inputs]
        inputs += [_port(p.label, values[p.id], True) for p in spec.params]
        outputs = [_port(o.label) for o in spec.outputs] + [_port("status")]
        state = {"v": STATE_VERSION, "spec": spec.model_dump(mode="json"), "values": values,
                 "target": entry.target.model_dump(mode="json"), "randomize": entry.randomize}
        ident = full_identifier(cls.base_identifier)  # type: ignore[attr-defined]
    else:
        cls = _KIND_CLASS[entry.kind]
        inputs = []
        for t in cls.init_inputs:
            has = t.default is not None or t.label in entry.inputs
            value = entry.inputs.get(t.label, t.default.payload if t.default is not None else None)
            inputs.append(_port(t.label, value, has))
        outputs = [_port(t.label) for t in cls.init_outputs]
        state = {}
        ident = full_identifier(cls.base_identifier)  # type: ignore[attr-defined]
    # serialize() pickles our own validated dict; Node.load unpickles it right away.
    return cls, {"GID": next(_gid), "identifier": ident, "version": "1", "state data": serialize(state),
                 "additional data": {}, "inputs": inputs, "outputs": outputs, "main widget data": serialize({}),
                 "pos x": entry.pos[0], "pos y": entry.pos[1]}


def flow_components(entry: FlowEntry) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(nodes data, connections data) for ``Flow.load_components``; creates workflow classes as needed."""
    nodes = [_node_data(n)[1] for n in entry.nodes]
    index = {n.id: i for i, n in enumerate(entry.nodes)}
    conns = []
    for c in entry.connections:
        src, dst = nodes[index[c.from_node]], nodes[index[c.to_node]]
        if not (0 <= c.from_output < len(src["outputs"]) and 0 <= c.to_input < len(dst["inputs"])):
            raise WorkflowError(f"flow {entry.title!r}: connection {c.from_node}[{c.from_output}] → "
                                f"{c.to_node}[{c.to_input}] names a port that does not exist")
        conns.append({"parent node index": index[c.from_node], "output port index": c.from_output,
                      "connected node": index[c.to_node], "connected input port index": c.to_input})
    return nodes, conns


def load_into_flow(flow: Flow, entry: FlowEntry) -> list[Node]:
    """Add a saved flow's nodes and connections to a live flow (GUI or headless)."""
    nodes, conns = flow_components(entry)
    session = flow.session
    for n in entry.nodes:
        if n.kind == "workflow":
            cls = workflow_class(n.spec)  # type: ignore[arg-type]
            if cls not in session.nodes:
                register(session, [cls])
    new_nodes, _ = flow.load_components(nodes, conns, [])
    return new_nodes


def load_orchestrator_session(path: str | Path) -> tuple[Session, list[Flow]]:
    """A headless session with the project's flows."""
    project = load_orchestrator(path)
    for f in project.flows:
        for n in f.nodes:
            if n.kind == "workflow":
                workflow_class(n.spec)  # type: ignore[arg-type]
    session = new_session()
    flows = []
    for f in project.flows:
        flow = session.create_flow(f.title)
        load_into_flow(flow, f)
        flows.append(flow)
    return session, flows


__all__ = [
    "Connection",
    "FlowEntry",
    "NodeEntry",
    "OrchestratorProject",
    "export_flows",
    "is_orchestrator_file",
    "load_into_flow",
    "load_orchestrator",
    "load_orchestrator_session",
    "save_orchestrator",
]
