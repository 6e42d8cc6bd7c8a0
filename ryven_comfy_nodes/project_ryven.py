"""Ryven project files (``*.json`` written by Ryven) opened without the GUI.

Ryven stores node state pickled (base64), and unpickling runs whatever code the file
asks for. So a Ryven project is read as JSON first, its shape checked, and the fields
Ryven would unpickle are found *without unpickling them* (``pickled_fields``): a project
that has any is opened only when the user says they trust it (``--trust-pickles``, or
yes in the editor's confirmation). The pickle-free format is ``.orchestrator.json``
(see ``project_format``).

A saved node names its class only by identifier; workflow classes are
re-created from the specs embedded in the nodes' state before loading.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ryvencore import Flow, Session
from ryvencore.utils import deserialize

from comfy_backend import WorkflowError

from .classes import WF_PREFIX, new_session, workflow_class
from .loops import find_loop, refuse_loop
from .project_format import read_project_json
from .workflow_spec import WorkflowSpec

__all__ = ["UntrustedProject", "check_trusted", "is_trusted", "load_ryven_project", "new_session", "pickled_fields",
           "read_project", "specs_in_ryven_project", "trust_file"]

#: keys whose string value ryvencore / Ryven unpickle when loading (node state, widget data, port data)
PICKLED_KEYS = frozenset({"state data", "main widget data", "serialized"})


class UntrustedProject(WorkflowError):
    """A Ryven project holds pickled content and the user has not said they trust it."""


_trusted: set[str] = set()  # resolved paths the user said they trust (the editor's confirmation)


def trust_file(path: str | Path) -> None:
    """Remember that the user trusts this project file (Ryven's own loading of it may unpickle)."""
    _trusted.add(str(Path(path).resolve()))


def is_trusted(path: str | Path) -> bool:
    """Has the user said they trust this project file in this process?"""
    return str(Path(path).resolve()) in _trusted


def untrusted_message(source: str) -> str:
    """Why a Ryven project is not opened, and what the user can do (one line)."""
    return (f"{source}: a Ryven project contains pickled node state, which can run code when opened; "
            "open it only if you trust it: --trust-pickles, or convert it to .orchestrator.json")


def read_project(path: str | Path) -> dict[str, Any]:
    """A Ryven project file's JSON, its shape checked (flows of nodes and connections). Unpickles nothing."""
    p = Path(path)
    data = read_project_json(p)
    check_shape(data, str(p))
    return data


def _flows(project: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    flows = project.get("flows") or {}
    items = list(flows.items()) if isinstance(flows, dict) else [(str(i), f) for i, f in enumerate(flows)]
    return [(str(title), flow) for title, flow in items]


def check_shape(data: Any, source: str = "project") -> None:
    """Raise WorkflowError (one line) unless ``data`` is shaped like a Ryven project whose flows
    have no loop; this is what loading relies on, checked before anything is unpickled."""
    if not isinstance(data, dict) or not isinstance(data.get("flows"), (dict, list)):
        raise WorkflowError(f"{source}: not a Ryven project (no 'flows')")
    for title, flow in _flows(data):
        where = f"{source}: not a usable Ryven project: flow {title!r}"
        if not isinstance(flow, dict):
            raise WorkflowError(f"{where} is not an object")
        nodes, conns = flow.get("nodes", []), flow.get("connections", [])
        if not isinstance(nodes, list) or not isinstance(conns, list):
            raise WorkflowError(f"{where}: 'nodes' and 'connections' must be lists")
        for i, nd in enumerate(nodes):
            if not isinstance(nd, dict) or not isinstance(nd.get("identifier"), str):
                raise WorkflowError(f"{where}: node {i} is not a node (an object with an 'identifier')")
        fed_by: dict[int, list[int]] = {}
        for j, c in enumerate(conns):
            ends = (c.get("parent node index"), c.get("connected node")) if isinstance(c, dict) else (None, None)
            if not all(isinstance(e, int) and not isinstance(e, bool) and 0 <= e < len(nodes) for e in ends):
                raise WorkflowError(f"{where}: connection {j} does not join two of its nodes")
            fed_by.setdefault(ends[1], []).append(ends[0])  # type: ignore[arg-type]
        names = [f"{i} ({_title(nd)})" for i, nd in enumerate(nodes)]
        refuse_loop(find_loop(range(len(nodes)), lambda i, fed_by=fed_by: fed_by.get(i, [])), names.__getitem__,
                    f"{source}: flow {title!r}")


def _title(node: dict[str, Any]) -> str:
    ident = str(node["identifier"])
    return ident.split(WF_PREFIX, 1)[1] if WF_PREFIX in ident else ident.rsplit(".", 1)[-1]


def pickled_fields(data: Any) -> list[str]:
    """Where ``data`` (a project's JSON) holds values Ryven would unpickle, e.g.
    ``flows.main.nodes[0].state data``. Reads the structure only; unpickles nothing."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                path = f"{where}.{k}" if where else str(k)
                if k in PICKLED_KEYS and isinstance(v, str) and v:
                    found.append(path)
                else:
                    stack.append((v, path))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))
    return sorted(found)


def check_trusted(data: dict[str, Any], source: str, trust_pickles: bool) -> None:
    """Raise UntrustedProject when ``data`` holds pickled content and ``trust_pickles`` is False."""
    if not trust_pickles and pickled_fields(data):
        raise UntrustedProject(untrusted_message(source))


def specs_in_ryven_project(project: str | Path | dict[str, Any], *, trust_pickles: bool = False) -> list[WorkflowSpec]:
    """The workflow specs embedded in a Ryven project's workflow nodes (unpickles their state:
    only with ``trust_pickles``, else UntrustedProject when there is pickled content)."""
    source = "project" if isinstance(project, dict) else str(project)
    data = project if isinstance(project, dict) else read_project(project)
    if isinstance(project, dict):
        check_shape(data, source)
    return _specs(data, source, trust_pickles)


def _specs(data: dict[str, Any], source: str, trust_pickles: bool) -> list[WorkflowSpec]:
    check_trusted(data, source, trust_pickles)
    specs: dict[str, WorkflowSpec] = {}
    for _, flow in _flows(data):
        for nd in flow.get("nodes", []):
            ident = str(nd["identifier"])
            if f".{WF_PREFIX}" not in f".{ident}" or not isinstance(nd.get("state data"), str):
                continue
            state = deserialize(nd["state data"])
            if isinstance(state, dict) and "spec" in state:
                try:
                    spec = WorkflowSpec.model_validate(state["spec"])
                except ValidationError as exc:
                    raise WorkflowError(f"{source}: node {ident!r}: not a workflow spec ({exc.errors()[0]['msg']})") from None
                # the class id comes from the identifier, the spec may have been edited on the node
                spec.id = ident.split(WF_PREFIX, 1)[1]
                specs.setdefault(spec.id, spec)
    return list(specs.values())


def load_ryven_project(project: str | Path | dict[str, Any], *,
                       trust_pickles: bool = False) -> tuple[Session, list[Flow]]:
    """A headless session holding the project's flows (workflow classes re-created first).

    A project with pickled content is opened only with ``trust_pickles`` (UntrustedProject otherwise).
    """
    source = "project" if isinstance(project, dict) else str(project)
    data = project if isinstance(project, dict) else read_project(project)
    if isinstance(project, dict):
        check_shape(data, source)
    for spec in _specs(data, source, trust_pickles):
        workflow_class(spec)
    session = new_session()
    try:
        flows = session.load(data)
    except Exception as exc:  # ryvencore raises plain Exception for unknown node classes
        raise WorkflowError(f"{source}: cannot load the project: {exc}") from exc
    return session, flows
