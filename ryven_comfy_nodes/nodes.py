"""Ryven entry point of the node package: exports the utility nodes and one node per workflow.

Loaded by our launcher (``ryven-comfy editor``) and by Ryven's own ways (File →
Import Nodes, ``~/.ryven/nodes``). Workflows come from the workflow folders
(see ``classes.default_workflow_folders``), from specs handed over by the
launcher, and from the project Ryven is opening (embedded in node state).
GUI code is imported only when Ryven runs with a GUI.
"""
from __future__ import annotations

import logging

from ryven.node_env import export_nodes, on_gui_load

from .classes import default_workflow_folders, specs_from_folder, workflow_class, workflow_classes
from .project_ryven import UntrustedProject, is_trusted, specs_in_ryven_project
from .utility_nodes import UTILITY_NODES

log = logging.getLogger(__name__)


def _project_being_opened() -> str | None:
    """The project path Ryven is opening (not a documented API; None if unavailable)."""
    try:
        from ryven.main import config

        project = getattr(config.instance, "project", None)
        return str(project) if project else None
    except Exception as exc:
        log.debug("no project path from Ryven: %s", exc)
        return None


def _collect() -> None:
    for folder in default_workflow_folders():
        for spec in specs_from_folder(folder):
            workflow_class(spec)
    project = _project_being_opened()
    if project and project.endswith(".json") and not project.endswith(".orchestrator.json"):
        try:  # unpickled only when the user said they trust the file (the editor asks first)
            specs = specs_in_ryven_project(project, trust_pickles=is_trusted(project))
        except UntrustedProject as exc:
            log.warning("%s", exc)
            return
        for spec in specs:
            workflow_class(spec)


_collect()
_exported = [*UTILITY_NODES, *workflow_classes()]
for _cls in _exported:  # a headless Session earlier in this process may have prefixed them
    _cls.identifier = _cls.base_identifier  # type: ignore[attr-defined]
export_nodes(node_types=_exported)
log.info("ryven_comfy_nodes: %d workflow node(s)", len(workflow_classes()))


@on_gui_load
def load_gui() -> None:
    from . import gui  # noqa: F401 - registers the node GUIs, docks and menus
