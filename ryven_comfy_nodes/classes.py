"""Generated node classes: one per workflow, created once per process and registered without prefix doubling.

Ryven refers to node classes only by identifier (``ryven_comfy_nodes.wf.<id>``).
ryvencore prepends the package prefix on *every* registration, so a class
registered in a second Session would become ``ryven_comfy_nodes.ryven_comfy_nodes...``;
``register`` resets the identifier first.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ryvencore import Node, Session

from comfy_backend import example_workflows_dir

from .utility_nodes import UTILITY_NODES
from .workflow_node import WorkflowNode
from .workflow_spec import WorkflowSpec, load_workflow_file

log = logging.getLogger(__name__)

PACKAGE = "ryven_comfy_nodes"
WF_PREFIX = "wf."

_classes: dict[str, type[WorkflowNode]] = {}


def full_identifier(base: str) -> str:
    return f"{PACKAGE}.{base}"


def workflow_class(spec: WorkflowSpec) -> type[WorkflowNode]:
    """The node class of a workflow id (created on first use; later specs of that id keep the class).

    The template is the spec as given: bounds and choices of servers' node definitions are
    given to nodes (the editor refines them from the core's cache), not to classes, so a class
    never depends on which server answered before it was made.
    """
    cls = _classes.get(spec.id)
    if cls is not None:
        return cls
    ins, outs = WorkflowNode.ports_for(spec)
    base_id = WF_PREFIX + spec.id
    cls = type(f"WF_{spec.id}", (WorkflowNode,), {
        "title": spec.title,
        "identifier": base_id,
        "base_identifier": base_id,
        "legacy_identifiers": [base_id, full_identifier(base_id)],
        "spec_template": spec,
        "init_inputs": ins,
        "init_outputs": outs,
        "tags": ["comfyui", "workflow"],
        "__module__": __name__,
        # Ryven calls inspect.getsource on node classes; the base's qualname keeps that from failing.
        "__qualname__": WorkflowNode.__qualname__,
        "__doc__": f"ComfyUI workflow '{spec.title}'",
    })
    _classes[spec.id] = cls
    return cls


def workflow_classes() -> list[type[WorkflowNode]]:
    return list(_classes.values())


def hand_over(specs: Iterable[WorkflowSpec]) -> None:
    """Specs (e.g. embedded in a project) to include when Ryven imports the package: their classes now."""
    for s in specs:
        workflow_class(s)


def specs_from_folder(folder: Path) -> list[WorkflowSpec]:
    """Workflow specs from ``*.json`` files in a folder; unusable files are logged and skipped."""
    specs = []
    for f in sorted(Path(folder).glob("*.json")):
        try:
            specs.append(load_workflow_file(f))
        except Exception as exc:
            log.warning("skipping workflow %s: %s", f, exc)
    return specs


def register(session: Session, classes: Iterable[type[Node]]) -> None:
    """Register node classes in a session with exactly one package prefix."""
    for cls in classes:
        base = getattr(cls, "base_identifier", None) or cls.__dict__.get("base_identifier")
        if base is None:
            raise ValueError(f"{cls.__name__} has no base_identifier")
        cls.identifier = base
        cls.identifier_prefix = PACKAGE
        session.register_node_type(cls)


def new_session() -> Session:
    """A headless session with the utility nodes and every workflow class known so far."""
    session = Session(gui=False, load_addons=False)
    register(session, [*UTILITY_NODES, *workflow_classes()])
    return session


def default_workflow_folders() -> list[Path]:
    """``$RYVEN_COMFY_WORKFLOWS`` (path list), ``~/.config/ryven-comfy/workflows``, the bundled examples."""
    folders = [Path(p).expanduser() for p in os.environ.get("RYVEN_COMFY_WORKFLOWS", "").split(os.pathsep) if p]
    folders.append(Path("~/.config/ryven-comfy/workflows").expanduser())
    folders.append(example_workflows_dir())
    return [f for f in folders if f.is_dir()]


def unique_spec(spec: WorkflowSpec) -> WorkflowSpec:
    """``spec``, with its id suffixed (``_2``, ``_3``...) if another workflow already uses the id."""
    base, n = spec.id, 2
    while spec.id in _classes and _classes[spec.id].spec_template != spec:
        spec = spec.model_copy(update={"id": f"{base}_{n}"})
        n += 1
    return spec
