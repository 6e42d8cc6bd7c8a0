"""What we add to Ryven's main window: the servers dock, the ComfyUI menu, workflow classes at run time, autosave.

Ryven has no plugin API for docks or menus; ``install`` extends the
``MainWindow`` returned by ``run_ryven`` (or found among top-level widgets when
Ryven loaded the package by itself). It is idempotent.
"""
from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QAction, QApplication, QDockWidget, QFileDialog, QMessageBox

from comfy_backend import WorkflowError

from . import gui_docks, gui_filemenu, gui_layout, gui_notify, gui_undo, gui_webui
from .autosave import Autosaver
from .classes import PACKAGE, register, unique_spec, workflow_class
from .context import current_context
from .gui_add import AddWorkflowDialog, build_spec
from .gui_docks import ServersPanel
from .project_format import SUFFIX, export_flows, load_into_flow, load_orchestrator, save_orchestrator
from .workflow_node import WorkflowNode
from .workflow_spec import TargetSpec, WorkflowSpec

log = logging.getLogger(__name__)
AUTOSAVE_MS = 60_000
GIL_SWITCH_S = 0.001


def find_main_window() -> Any:
    return next((w for w in QApplication.topLevelWidgets() if w.__class__.__name__ == "MainWindow"), None)


def install(editor: Any) -> None:
    """Add the dock, the menu and autosave to Ryven's main window (once)."""
    if editor is None or getattr(editor, "_ryven_comfy", None) is not None:
        return
    state: dict[str, Any] = {}
    editor._ryven_comfy = state
    ctx = current_context()
    for dock in _monitoring_docks(editor, ctx):  # placed (tabbed, compact) by gui_layout
        editor.addDockWidget(Qt.BottomDockWidgetArea, dock)
        editor.ui.menuDocks.addAction(dock.toggleViewAction())
        state.setdefault("dock", dock)  # the servers dock comes first
    QTimer.singleShot(0, state["dock"].raise_)
    state["webui_dock"] = gui_webui.webui_dock(editor)  # the embedded ComfyUI editor's tabs (issue 9)
    gui_undo.install_edit_menu(editor)  # Edit → Undo/Redo of the flow's undo stack (a sync is one step)
    gui_notify.install(editor, ctx)
    menu = editor.menuBar().addMenu("ComfyUI")
    state["menu"] = menu

    def action(text: str, slot: Any, shortcut: str | None = None) -> QAction:
        a = QAction(text, editor)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(lambda _=False: slot())
        menu.addAction(a)
        return a

    state["run_flow"] = action("Run flow", lambda: run_current_flow(editor), "Ctrl+R")
    action("Add workflow node…", lambda: add_workflow_dialog(editor), "Ctrl+Shift+A")
    menu.addSeparator()
    action("Import project (.orchestrator.json)…", lambda: import_dialog(editor))
    action("Export project (.orchestrator.json)…", lambda: export_dialog(editor))
    autosaver = Autosaver()
    state["autosaver"] = autosaver
    timer = QTimer(editor)
    timer.timeout.connect(lambda: autosave(editor))
    timer.start(AUTOSAVE_MS)
    state["autosave_timer"] = timer
    gui_filemenu.install(editor, gui_filemenu.ProjectOps(positions, lambda path: export_project(editor, path),
                                                         lambda path: import_orchestrator(editor, path)))
    gui_layout.install(editor)
    if ctx is not None:
        ctx.runner.before_run = keep_collector_short
    # Qt calls Ryven's Python methods (node bounds, titles) hundreds of times per repaint of the
    # canvas, each one first winning the GIL from the backend's thread: a switch interval of 1 ms
    # (Python's default is 5) keeps each such wait short while that thread is busy
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
    if ctx is not None:  # bounds and choices on every workflow node once a server's definitions arrive
        ctx.node_definitions_changed.sub(lambda sid: refine_nodes(editor))
        session = editor.core_session
        for flow in session.flows:
            flow.node_added.sub(refine_node)
        session.flow_created.sub(lambda flow: flow.node_added.sub(refine_node))
        refine_nodes(editor)


def keep_collector_short() -> None:
    """Move every object alive when a run starts (the editor, its flows and nodes) out of the
    cyclic garbage collector's walks, so its full passes during the run only walk what the run
    made: a full pass over the editor's ~300 k objects froze the window for 100-200 ms mid-run.

    The young generations are collected first (a few ms); the price is that cyclic garbage already
    in the oldest generation then is never reclaimed (reference counting still frees everything
    else): little next to the editor itself.
    """
    gc.collect(1)
    gc.freeze()


def _monitoring_docks(editor: Any, ctx: Any) -> list[QDockWidget]:
    """The monitoring docks (``gui_docks.create_docks``: servers first), or the servers dock alone."""
    create = getattr(gui_docks, "create_docks", None)
    if create is not None:
        return list(create(editor, ctx))
    dock = QDockWidget("ComfyUI servers", editor)
    dock.setObjectName("ryven_comfy_servers_dock")
    dock.setWidget(ServersPanel(dock))
    return [dock]


def refine_node(node: Any) -> None:
    """Give a workflow node the bounds and choices of its target's (or every usable) server,
    read from the core's cache: a node placed after the definitions arrived gets them too."""
    ctx = current_context(create=False)
    if ctx is None or not isinstance(node, WorkflowNode):
        return
    infos = ctx.node_definitions(node.target.server)
    if infos:
        node.refine(infos)


def refine_nodes(editor: Any) -> None:
    """Refine every workflow node of every flow (a server's definitions arrived or changed)."""
    for flow in editor.core_session.flows:
        for node in flow.nodes:
            refine_node(node)


def run_current_flow(editor: Any) -> Any:
    ctx = current_context()
    if ctx is None:
        QMessageBox.warning(editor, "ryven-comfy", "No servers configured: start the editor with 'ryven-comfy editor'.")
        return None
    try:
        return ctx.runner.run_flow(editor.get_current_flow())
    except WorkflowError as exc:  # e.g. nodes feeding each other in a loop: nothing was run
        log.warning("Run flow refused: %s", exc)
        QMessageBox.warning(editor, "Run flow", str(exc))
        return None


def fit_flow(editor: Any, margin: float = 40.0) -> None:
    """Zoom the current flow view so that every node is visible (see ``gui_layout.fit_flow``)."""
    gui_layout.fit_flow(editor, margin)


# -- workflow classes while the editor runs ------------------------------------------------------
def register_workflow(editor: Any, spec: WorkflowSpec) -> type[WorkflowNode]:
    """The class of a workflow, registered in the running editor and listed in its node list."""
    cls = workflow_class(spec)
    session = editor.core_session
    if cls not in session.nodes:
        register(session, [cls])
        package = next((p for c, p in editor.node_packages.items()
                        if p is not None and getattr(p, "name", None) == PACKAGE), None)
        editor.node_packages[cls] = package  # so that a saved project lists our package as required
        editor.nodes_list_widget.update_list(session.nodes)
        editor.nodes_list_widget.make_pack_hier()
    return cls


def add_workflow_dialog(editor: Any) -> WorkflowNode | None:
    """ComfyUI → Add workflow node…: the dialog; OK runs ``add_workflow_from_file``."""
    dlg = AddWorkflowDialog(lambda name, path, target: add_workflow_from_file(editor, path, name, target), editor)
    dlg.exec()
    return dlg.node


def add_workflow_from_file(editor: Any, path: str | Path | None, name: str = "",
                           target: TargetSpec | None = None) -> WorkflowNode:
    """What "Add workflow node…" does: a spec from a workflow file (or the blank template without one),
    its class registered in the running editor (node list, saved projects) and a node placed in the
    current flow. Raises ``WorkflowError`` for an unusable file."""
    return add_workflow_node(editor, build_spec(name, path), target)


def add_workflow_node(editor: Any, spec: WorkflowSpec, target: Any = None) -> WorkflowNode:
    """Create a node of ``spec`` in the current flow (registering its class if new)."""
    cls = register_workflow(editor, unique_spec(spec))
    view = gui_layout.flow_view(editor)
    view._node_place_pos = gui_layout.view_centre(editor)  # in view, not at the scene's (0, 0) corner
    node = editor.get_current_flow().create_node(cls)
    if target is not None:
        node.target = target
    return node


# -- pickle-free projects ------------------------------------------------------------------------
def positions(node: Any) -> tuple[float, float]:
    item = getattr(getattr(node, "gui", None), "item", None)
    if item is None:
        return (0.0, 0.0)
    return (float(item.pos().x()), float(item.pos().y()))


def export_project(editor: Any, path: Path) -> None:
    save_orchestrator(export_flows(list(editor.core_session.flows), positions), path)


def import_orchestrator(editor: Any, path: Path) -> list[Any]:
    """Load a ``.orchestrator.json`` into the editor: its first flow into the current one, others as new flows."""
    project = load_orchestrator(path)
    nodes = []
    for i, entry in enumerate(project.flows):
        for n in entry.nodes:
            if n.kind == "workflow" and n.spec is not None:
                register_workflow(editor, n.spec)
        if i == 0:
            flow = editor.get_current_flow()
            if not flow.nodes:  # the empty start flow ("hello world") takes the project's title
                editor.core_session.rename_flow(flow, entry.title)
        else:
            flow = editor.core_session.create_flow(entry.title)
        added = load_into_flow(flow, _centred(editor, flow, entry))
        _keep_on_scene(added)
        nodes += added
    return nodes


def _centred(editor: Any, flow: Any, entry: Any) -> Any:
    """The flow entry moved so that its nodes sit around the view's centre (Ryven's scene has no negative side)."""
    if not entry.nodes:
        return entry
    view = editor.flow_UIs[flow].flow_view
    centre = view.mapToScene(view.viewport().rect().center())
    xs = [n.pos[0] for n in entry.nodes]
    ys = [n.pos[1] for n in entry.nodes]
    dx = max(centre.x() - (min(xs) + max(xs)) / 2, 400 - min(xs))
    dy = max(centre.y() - (min(ys) + max(ys)) / 2, 300 - min(ys))
    moved = entry.model_copy(deep=True)
    for n in moved.nodes:
        n.pos = (n.pos[0] + dx, n.pos[1] + dy)
    return moved


#: the least room kept above and left of loaded nodes (scene px): a node grows around its centre
#: when its results arrive, and Ryven's scene has nothing above or left of (0, 0) to scroll to
SCENE_MARGIN = 150.0


def _keep_on_scene(nodes: list[Any]) -> None:
    """Move just-loaded nodes together so that their rectangles (not only their centres, which
    ``_centred`` places) start ``SCENE_MARGIN`` inside the scene's top left corner: a node taller
    than the room above its centre went past the top of the scene."""
    items = [n.gui.item for n in nodes if getattr(getattr(n, "gui", None), "item", None) is not None]
    if not items:
        return
    rect = items[0].sceneBoundingRect()
    for it in items[1:]:
        rect = rect.united(it.sceneBoundingRect())
    dx, dy = max(0.0, SCENE_MARGIN - rect.left()), max(0.0, SCENE_MARGIN - rect.top())
    if dx or dy:
        for it in items:
            it.moveBy(dx, dy)


def import_dialog(editor: Any) -> None:
    path, _ = QFileDialog.getOpenFileName(editor, "Import project", "", f"ryven-comfy project (*{SUFFIX})")
    if path:
        try:
            import_orchestrator(editor, Path(path))
        except Exception as exc:
            QMessageBox.warning(editor, "Import failed", str(exc))


def export_dialog(editor: Any) -> None:
    path, _ = QFileDialog.getSaveFileName(editor, "Export project", "project" + SUFFIX, f"ryven-comfy project (*{SUFFIX})")
    if path:
        if not path.endswith(SUFFIX):
            path += SUFFIX
        export_project(editor, Path(path))


def autosave(editor: Any) -> Path | None:
    state = getattr(editor, "_ryven_comfy", None)
    if not state:
        return None
    try:
        return state["autosaver"].save(export_flows(list(editor.core_session.flows), positions))
    except Exception:
        log.exception("autosave failed")
        return None
