"""Ryven project files (``*.json`` written by Ryven) opened without the GUI.

Ryven stores node state pickled (base64), so opening a Ryven project runs
pickle: only open projects you trust. The pickle-free format is
``.orchestrator.json`` (see ``project_format``).

A saved node names its class only by identifier; workflow classes are
re-created from the specs embedded in the nodes' state before loading.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ryvencore import Flow, Session
from ryvencore.utils import deserialize

from comfy_backend import WorkflowError

from .classes import WF_PREFIX, new_session, workflow_class
from .project_format import read_project_json
from .workflow_spec import WorkflowSpec

__all__ = ["load_ryven_project", "new_session", "read_project", "specs_in_ryven_project"]


def read_project(path: str | Path) -> dict[str, Any]:
    """A Ryven project file's JSON (checked to have flows)."""
    p = Path(path)
    data = read_project_json(p)
    if not isinstance(data, dict) or not isinstance(data.get("flows"), (dict, list)):
        raise WorkflowError(f"{p}: not a Ryven project (no 'flows')")
    return data


def _flows(project: dict[str, Any]) -> list[dict[str, Any]]:
    flows = project.get("flows") or {}
    return list(flows.values()) if isinstance(flows, dict) else list(flows)


def specs_in_ryven_project(project: str | Path | dict[str, Any]) -> list[WorkflowSpec]:
    """The workflow specs embedded in a Ryven project's workflow nodes (unpickles their state)."""
    data = project if isinstance(project, dict) else read_project(project)
    specs: dict[str, WorkflowSpec] = {}
    for flow in _flows(data):
        for nd in flow.get("nodes", []):
            ident = str(nd.get("identifier", ""))
            if f".{WF_PREFIX}" not in f".{ident}":
                continue
            state = deserialize(nd["state data"])
            if isinstance(state, dict) and "spec" in state:
                spec = WorkflowSpec.model_validate(state["spec"])
                # the class id comes from the identifier, the spec may have been edited on the node
                spec.id = ident.split(WF_PREFIX, 1)[1]
                specs.setdefault(spec.id, spec)
    return list(specs.values())


def load_ryven_project(project: str | Path | dict[str, Any]) -> tuple[Session, list[Flow]]:
    """A headless session holding the project's flows (workflow classes re-created first)."""
    data = project if isinstance(project, dict) else read_project(project)
    for spec in specs_in_ryven_project(data):
        workflow_class(spec)
    session = new_session()
    try:
        flows = session.load(data)
    except Exception as exc:  # ryvencore raises plain Exception for unknown node classes
        raise WorkflowError(f"cannot load the project: {exc}") from exc
    return session, flows
