"""The editor's window layout: the canvas gets most of the window, docks compact and tabbed,
fit-to-view, zoom with the wheel in a sensible range, geometry and docks remembered.

Ryven's ``MainWindow`` holds the flows/nodes docks (left) and the console (bottom); each
flow's ``FlowUI`` is itself a ``QMainWindow`` whose right docks (inspector, undo, log…)
are tabbed. Our own docks (servers, and the monitoring docks of ``gui_docks``) join the
bottom area as tabs.
"""
from __future__ import annotations

import logging
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QAction, QDockWidget, QGraphicsView

log = logging.getLogger(__name__)

#: where the window's geometry and dock layout are kept (an ini file); tests point it elsewhere
SETTINGS_ENV = "RYVEN_COMFY_EDITOR_SETTINGS"
LEFT_WIDTH = 210
BOTTOM_HEIGHT = 190
INSPECTOR_WIDTH = 340
MIN_ZOOM, MAX_ZOOM = 0.1, 4.0
_SETTINGS_VERSION = 1  # bump when the dock set changes: an old saved state would misplace docks


def settings() -> QSettings:
    """The editor's QSettings (``$RYVEN_COMFY_EDITOR_SETTINGS`` or ``~/.config/ryven-comfy/editor.ini``;
    ``none``: nothing is restored, and what is kept goes to a throw-away file)."""
    path = os.environ.get(SETTINGS_ENV) or str(Path("~/.config/ryven-comfy/editor.ini").expanduser())
    if path == "none":
        import tempfile

        path = str(Path(tempfile.gettempdir()) / f"ryven-comfy-editor-{os.getpid()}.ini")
    return QSettings(path, QSettings.IniFormat)


DOCK_TABS_STYLE = ("QTabBar { qproperty-elideMode: ElideNone; }"
                   "QTabBar::tab:top, QTabBar::tab:bottom { padding: 0 7px; min-width: 0px; }")


def flow_view(editor: Any, flow: Any = None) -> Any:
    """The ``FlowView`` of ``flow`` (default: the current flow)."""
    return editor.flow_UIs[flow or editor.get_current_flow()].flow_view


def bottom_docks(editor: Any) -> list[QDockWidget]:
    """Docks in the main window's bottom area (console, servers, monitoring docks)."""
    return [d for d in editor.findChildren(QDockWidget)
            if d.parent() is editor and editor.dockWidgetArea(d) == Qt.BottomDockWidgetArea]


def compact_layout(editor: Any) -> None:
    """Left docks narrow, bottom docks tabbed and short, each flow's inspector column narrow."""
    bottom = bottom_docks(editor)
    for a, b in pairwise(bottom):
        editor.tabifyDockWidget(a, b)
    left = [d for d in (getattr(editor.ui, "flows_dock", None), getattr(editor.ui, "nodes_dock", None)) if d]
    if left:
        editor.resizeDocks(left[:1], [LEFT_WIDTH], Qt.Horizontal)
    if bottom:
        editor.resizeDocks(bottom[:1], [BOTTOM_HEIGHT], Qt.Vertical)
    dock = getattr(editor, "_ryven_comfy", {}).get("dock")
    if dock is not None:
        dock.raise_()
    for flow_ui in editor.flow_UIs.values():
        compact_flow_ui(flow_ui)


def compact_flow_ui(flow_ui: Any) -> None:
    """A flow's right column (inspector and friends) at a fixed, narrow width."""
    dock = flow_ui.ui.inspector_dock
    flow_ui.resizeDocks([dock], [INSPECTOR_WIDTH], Qt.Horizontal)
    # Ryven's theme pads each dock tab 15 px a side and Qt elides what does not fit: six tabs in
    # the narrow column read "INSPEC…", "UNDO …", "SETTIN…". Compact tabs with their whole names;
    # the tab bar's scroll arrows reach the rest.
    flow_ui.setStyleSheet(DOCK_TABS_STYLE)
    dock.raise_()


def restore(editor: Any) -> bool:
    """Geometry and dock layout of the last session; False when none was saved."""
    s = settings()
    if s.value("version", 0, type=int) != _SETTINGS_VERSION:
        return False
    geometry, state = s.value("geometry"), s.value("state")
    ok = bool(geometry) and editor.restoreGeometry(geometry)
    if state:
        ok = editor.restoreState(state, _SETTINGS_VERSION) and ok
    return bool(ok)


def remember(editor: Any) -> None:
    """Keep the window's geometry and dock layout for the next session."""
    s = settings()
    s.setValue("version", _SETTINGS_VERSION)
    s.setValue("geometry", editor.saveGeometry())
    s.setValue("state", editor.saveState(_SETTINGS_VERSION))
    s.sync()


def fit_flow(editor: Any, margin: float = 40.0) -> None:
    """Zoom and scroll the current flow's view so that every node is visible (never past 1:1)."""
    flow = editor.get_current_flow()
    view = flow_view(editor, flow)
    items = [n.gui.item for n in flow.nodes if getattr(getattr(n, "gui", None), "item", None) is not None]
    if not items:
        return
    rect = items[0].sceneBoundingRect()
    for it in items[1:]:
        rect = rect.united(it.sceneBoundingRect())
    view.fitInView(rect.adjusted(-margin, -margin, margin, margin), Qt.KeepAspectRatio)
    if view.transform().m11() > 1.0:  # a small flow is shown at its size, not blown up
        view.resetTransform()
    view.centerOn(rect.center())
    view._current_scale = view.transform().m11()  # keep Ryven's own zoom bookkeeping in step


def view_centre(editor: Any) -> Any:
    """The scene point at the centre of the current flow's view (where new nodes go)."""
    view = flow_view(editor)
    return view.mapToScene(view.viewport().rect().center())


class WheelZoom(QObject):
    """Plain wheel zooms around the pointer (as in ComfyUI), within ``MIN_ZOOM``…``MAX_ZOOM``;
    Shift+wheel and Ctrl+wheel keep Ryven's scrolling and zooming."""

    def __init__(self, view: QGraphicsView) -> None:
        super().__init__(view)
        self.view = view

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() != QEvent.Wheel or event.modifiers() != Qt.NoModifier:
            return False
        if self.view.itemAt(event.position().toPoint()) is not None and _over_scrollable(self.view, event):
            return False  # a text box or list inside a node scrolls itself
        zoom_by(self.view, 1.0015 ** event.angleDelta().y())
        event.accept()
        return True


def _over_scrollable(view: QGraphicsView, event: Any) -> bool:
    from qtpy.QtWidgets import QGraphicsProxyWidget

    item = view.itemAt(event.position().toPoint())
    return isinstance(item, QGraphicsProxyWidget)


def zoom_by(view: QGraphicsView, factor: float) -> None:
    """Scale the view by ``factor`` around the pointer, clamped to the zoom range."""
    scale = view.transform().m11()
    target = min(MAX_ZOOM, max(MIN_ZOOM, scale * factor))
    if abs(target - scale) < 1e-6:
        return
    anchor = view.transformationAnchor()
    view.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
    view.scale(target / scale, target / scale)
    view.setTransformationAnchor(anchor)
    view._current_scale = view.transform().m11()


def install_view(editor: Any, flow_ui: Any) -> None:
    """Wheel zoom on one flow's view (once)."""
    view = flow_ui.flow_view
    if getattr(view, "_ryven_comfy_zoom", None) is None:
        view._ryven_comfy_zoom = WheelZoom(view)
        view.viewport().installEventFilter(view._ryven_comfy_zoom)
        compact_flow_ui(flow_ui)


def install(editor: Any) -> None:
    """View → Fit flow (F, Home), wheel zoom on every flow view, the compact layout (or the
    remembered one), and remembering it when the window closes."""
    fit = QAction("Fit flow to view", editor)
    fit.setShortcuts([QKeySequence("F"), QKeySequence("Home")])
    fit.setShortcutContext(Qt.WindowShortcut)
    fit.triggered.connect(lambda _=False: fit_flow(editor))
    editor.ui.menuView.insertAction(editor.ui.menuView.actions()[0] if editor.ui.menuView.actions() else None, fit)
    editor.addAction(fit)
    editor._ryven_comfy["fit_action"] = fit
    for flow_ui in editor.flow_UIs.values():
        install_view(editor, flow_ui)
    def later(flow: Any) -> None:  # Ryven builds the flow's FlowUI after this event
        QTimer.singleShot(0, lambda: flow in editor.flow_UIs and install_view(editor, editor.flow_UIs[flow]))

    editor.core_session.flow_created.sub(later)
    compact_layout(editor)
    if os.environ.get(SETTINGS_ENV) != "none":
        restore(editor)


class _FitOnShow(QObject):
    def __init__(self, editor: Any) -> None:
        super().__init__(editor)
        self.editor = editor

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self.editor and event.type() == QEvent.Show:
            self.editor.removeEventFilter(self)
            _fit_soon(self.editor)
        return False


def fit_when_shown(editor: Any) -> None:
    """Fit the flow into view once the window is shown (the view has its real size then).

    Ryven's ``run_ryven`` already shows its window, so a Show event may never come: then the fit
    is done on the next turns of the event loop (after the caller's resize and the first layout
    pass of the docks), as it is after a Show.
    """
    if editor.isVisible():
        _fit_soon(editor)
    else:
        editor.installEventFilter(_FitOnShow(editor))


def _fit_soon(editor: Any) -> None:
    # again once the docks have their sizes (their first layout pass comes after the show)
    for ms in (0, 250):
        QTimer.singleShot(ms, editor, lambda: fit_flow(editor))  # not after the window is gone


def select_first_workflow_node(editor: Any) -> None:
    """Select a workflow node so that the inspector starts with its target and parameters
    (rather than a utility node's internals)."""
    from .workflow_node import WorkflowNode

    flow = editor.get_current_flow()
    node = next((n for n in flow.nodes if isinstance(n, WorkflowNode)), None)
    item = getattr(getattr(node, "gui", None), "item", None)
    if item is not None:
        flow_view(editor, flow).select_items([item])
