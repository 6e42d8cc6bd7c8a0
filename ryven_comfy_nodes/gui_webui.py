"""The embedded ComfyUI editor in the Ryven window: a dock of web-UI tabs, one per node or server.

"Edit in ComfyUI" (:func:`edit_in_comfyui`) opens the server's real web UI in a tab and pushes
the node's workflow into it, its current values and exposure markers written in; "Sync to node"
pulls the edited graph back through the re-bind dialog (:mod:`.gui_sync`); nothing changes on
the node until the user accepts, and "Undo sync" puts the old workflow back. "Open web UI"
(:func:`open_web_ui`) shows any server's web UI. Everything here runs on the GUI thread; page
results arrive as futures completed on it (``editor_bridge``), backend results through
``threads.when_done``.
"""
from __future__ import annotations

import logging
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from comfy_backend import ComfyBackendError
from comfy_backend.workflow import apply_values
from editor_bridge import EditorView, FrontendInfo, push

from . import gui_sync, gui_undo
from .context import current_context
from .gui_sync import server_for
from .workflow_node import WorkflowNode

log = logging.getLogger(__name__)
AUTO_SYNC_MS = 1500   # debounce of the automatic sync after an edit in the web UI
WIDTH_SHARE, WIDTH_MIN = 0.36, 520   # the dock's width when it opens: share of the window, at least px


def _main_window() -> Any:
    from qtpy.QtWidgets import QApplication

    return next((w for w in QApplication.topLevelWidgets() if w.__class__.__name__ == "MainWindow"), None)


class WebUITab(QWidget):
    """One web UI: a server's page, and (for "Edit in ComfyUI") the node it edits."""

    def __init__(self, server_id: str, node: WorkflowNode | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ctx = current_context(create=False)
        config = ctx.orch.server_config(server_id) if ctx is not None else None
        if config is None:
            raise ComfyBackendError(f"no server {server_id!r}")
        self.server_id, self.node = server_id, node
        self.pushed: dict[str, Any] | None = None      # the workflow as pushed (markers in)
        self.pushed_spec: Any = None                   # the node's spec at the push
        self.canvas_dirty = False
        self.status = QLabel("loading the web UI…")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.view = EditorView(config, self)
        bar = QHBoxLayout()
        bar.addStretch(1)   # the status gets its own line below: a long message never squeezes the buttons
        if node is not None:
            self.push_button = QPushButton("Push node")
            bar.insertWidget(0, self.push_button)
            self.push_button.setToolTip("Load the node's workflow (with its current values) into the web UI again")
            self.push_button.clicked.connect(lambda: self.push())
            self.sync_button = QPushButton("Sync to node")
            self.sync_button.setToolTip("Take the web UI's workflow into the node (shows what changes first)")
            self.sync_button.clicked.connect(lambda: self.sync())
            self.undo_button = QPushButton("Undo sync")
            self.undo_button.setToolTip("Put back the node's workflow from before the last sync "
                                        "(Ctrl+Z on the canvas does the same; redo brings the sync back)")
            self.undo_button.setEnabled(gui_undo.can_undo(node))
            self.undo_button.clicked.connect(lambda: self.undo_sync())
            self.auto = QCheckBox("auto-sync")
            self.auto.setToolTip("Sync to node after each edit in the web UI (debounced)")
            for w in (self.sync_button, self.undo_button, self.auto):
                bar.insertWidget(bar.count() - 1, w)
            self._auto_timer = QTimer(self)
            self._auto_timer.setSingleShot(True)
            self._auto_timer.setInterval(AUTO_SYNC_MS)
            self._auto_timer.timeout.connect(lambda: self.sync(auto=True))
            self.view.editor.graph_changed.connect(self._graph_changed)
            node.params_changed.sub(self._node_changed)
            node.run_changed.sub(self._undo_state)   # a sync undone or redone on the canvas
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        self.view.editor.dirty_changed.connect(lambda _d: self.update_title())
        self.view.editor.ready.connect(self._ready)
        self.view.editor.failed.connect(lambda exc: self.show_error(f"the web UI could not be used: {exc}"))
        self.view.editor.load()

    # -- state shown -------------------------------------------------------------------------
    @property
    def web_dirty(self) -> bool:
        """Edited in the web UI and not synced."""
        return self.pushed is not None and self.view.editor.dirty

    def title(self) -> str:
        base = self.node.title if self.node is not None else f"web UI: {self.server_id}"
        marks = ("●" if self.web_dirty else "") + ("◆" if self.canvas_dirty else "")
        return f"{marks} {base} @ {self.server_id}".strip()

    def update_title(self) -> None:
        tabs = _tabs_of(self)
        if tabs is not None:
            i = tabs.indexOf(self)
            tabs.setTabText(i, self.title())
            tabs.setTabToolTip(i, "● edited in the web UI, not synced to the node\n"
                                  "◆ node changed on the canvas since the push")
        if self.node is not None:
            self.node.webui_state = {"web_dirty": self.web_dirty, "canvas_dirty": self.canvas_dirty,
                                     "server": self.server_id}
            self.node.redraw()

    def show_message(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        log.warning("web UI of %s: %s", self.server_id, text)
        self.status.setStyleSheet("color: #c0392b;")
        self.status.setText(text)
        if self.node is not None:
            self.node.webui_state = {**getattr(self.node, "webui_state", {}), "error": text}
            self.node.redraw()

    def _ready(self, info: FrontendInfo) -> None:
        text = f"ComfyUI frontend {info.version or '?'} at {info.url}"
        if info.warning:
            self.show_error(f"{text} — warning: {info.warning}")
        else:
            self.show_message(text)
        if self.node is not None:
            self.push()

    def _graph_changed(self) -> None:
        self.update_title()
        if self.node is not None and self.auto.isChecked() and self.pushed is not None:
            self._auto_timer.start()

    def _undo_state(self, *_: Any) -> None:
        if self.node is None:
            return
        try:
            self.undo_button.setEnabled(gui_undo.can_undo(self.node))
        except RuntimeError:  # the tab was deleted without being closed (the window went)
            self.node.run_changed.unsub(self._undo_state)

    def _node_changed(self, *_: Any) -> None:
        if self.pushed is not None and not self.canvas_dirty:
            self.canvas_dirty = True
            self.update_title()

    # -- push / sync ---------------------------------------------------------------------------
    def workflow_to_push(self) -> dict[str, Any]:
        """The node's workflow with its current (own or upstream) values written in."""
        node = self.node
        assert node is not None
        ctx = current_context(create=False)
        infos = ctx.node_definitions(self.server_id) if ctx is not None else []
        values = {(p.node_id, p.input_name): v for p in node.spec.params
                  if (v := node.value_of(p.id)) is not None}
        return apply_values(node.spec.workflow, values, infos[0] if infos else None)

    def push(self) -> None:
        """Load the node's workflow into the page (the page must be ready)."""
        node = self.node
        if node is None or not self.view.editor.is_ready():
            return
        try:
            workflow = self.workflow_to_push()
        except ComfyBackendError as exc:
            self.show_error(f"cannot write the node's values into its workflow: {exc}")
            return
        spec = node.spec.model_copy(deep=True)
        fut = push(self.view.editor, workflow, name=node.title, exposed=node.spec.params)

        def done(f: Any) -> None:
            exc = f.exception()
            if exc is not None:
                self.show_error(f"push refused: {exc}")
                return
            result = f.result()
            self.pushed, self.pushed_spec, self.canvas_dirty = result.workflow, spec, False
            warn = ("; " + "; ".join(result.warnings)) if result.warnings else ""
            self.show_message(f"pushed '{node.title}' ({spec.node_count} nodes) to {self.server_id}{warn}")
            self.update_title()

        fut.add_done_callback(done)

    def sync(self, auto: bool = False) -> None:
        """Pull the web UI's workflow and, once the user accepts the diff, give it to the node."""
        gui_sync.start_sync(self, auto=auto)

    def undo_sync(self) -> None:
        """Put back the node's workflow from before the last sync."""
        gui_sync.undo(self)

    def closeEvent(self, event: Any) -> None:
        if self.node is not None:
            self.node.params_changed.unsub(self._node_changed)
            self.node.run_changed.unsub(self._undo_state)
            self.node.webui_state = {}
            self.node.redraw()
        self.view.close()
        super().closeEvent(event)


def _tabs_of(tab: QWidget) -> QTabWidget | None:
    w = tab.parent()
    while w is not None and not isinstance(w, QTabWidget):
        w = w.parent()
    return w


class WebUIDock(QDockWidget):
    """The dock holding the web-UI tabs (several at once, one per node or server)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("ComfyUI web UI", parent)
        self.setObjectName("ryven_comfy_webui_dock")
        self.tabs = QTabWidget(self)
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.setWidget(self.tabs)

    def close_tab(self, index: int) -> None:
        tab = self.tabs.widget(index)
        self.tabs.removeTab(index)
        if tab is not None:
            tab.close()
            tab.deleteLater()
        if self.tabs.count() == 0:
            self.hide()

    def find(self, node: WorkflowNode | None, server_id: str) -> WebUITab | None:
        for i in range(self.tabs.count()):
            t = self.tabs.widget(i)
            if isinstance(t, WebUITab) and t.node is node and (node is not None or t.server_id == server_id):
                return t
        return None

    def open(self, server_id: str, node: WorkflowNode | None) -> WebUITab:
        tab = self.find(node, server_id)
        if tab is not None and tab.server_id != server_id:
            self.close_tab(self.tabs.indexOf(tab))
            tab = None
        if tab is None:
            tab = WebUITab(server_id, node, self.tabs)
            self.tabs.addTab(tab, tab.title())
        if not self.isVisible():
            self.show()
            main = self.parent()
            if hasattr(main, "resizeDocks"):   # room for the graph: the web UI's side bars take ~100 px
                main.resizeDocks([self], [max(WIDTH_MIN, int(main.width() * WIDTH_SHARE))], Qt.Horizontal)
        self.show()
        self.raise_()
        self.tabs.setCurrentWidget(tab)
        return tab


def webui_dock(editor: Any = None) -> WebUIDock | None:
    """The main window's web-UI dock (created on first use, on the right of the canvas)."""
    editor = editor or _main_window()
    if editor is None:
        return None
    dock = getattr(editor, "_ryven_comfy_webui", None)
    if dock is None:
        dock = WebUIDock(editor)
        editor.addDockWidget(Qt.RightDockWidgetArea, dock)
        menu = getattr(getattr(editor, "ui", None), "menuDocks", None)
        if menu is not None:
            menu.addAction(dock.toggleViewAction())
        editor._ryven_comfy_webui = dock
        dock.hide()
    return dock


def edit_in_comfyui(node: WorkflowNode, server_id: str | None = None) -> WebUITab | None:
    """Open the node's workflow in a server's web UI (a tab of the web-UI dock); None if not opened."""
    dock = webui_dock()
    sid = server_id or server_for(node, dock)
    if dock is None or sid is None:
        return None
    try:
        return dock.open(sid, node)
    except ComfyBackendError as exc:
        QMessageBox.warning(dock, "Edit in ComfyUI", str(exc))
        return None


def open_web_ui(server_id: str) -> WebUITab | None:
    """Show a server's web UI in a tab of the web-UI dock (to watch its queue or debug there)."""
    dock = webui_dock()
    if dock is None:
        return None
    try:
        return dock.open(server_id, None)
    except ComfyBackendError as exc:
        QMessageBox.warning(dock, "Open web UI", str(exc))
        return None


def tab_of(node: WorkflowNode) -> WebUITab | None:
    """The node's open web-UI tab, if any."""
    dock = webui_dock()
    return dock.find(node, "") if dock is not None else None


# -- hooks in the node's widget, context menu and inspector ---------------------------------------
def badge(node: WorkflowNode) -> str:
    """The node's web-UI marks: ● edited in the web UI and not synced, ◆ changed on the canvas since the push."""
    st = node.webui_state
    return ("●" if st.get("web_dirty") else "") + ("◆" if st.get("canvas_dirty") else "") + ("⚠" if st.get("error") else "")


def edit_button(node: WorkflowNode) -> QToolButton:
    """The node's "Edit in ComfyUI" button; its text carries the node's web-UI marks."""
    button = QToolButton()
    button.setToolTip("edit this workflow in its server's ComfyUI web UI")

    def update(*_: Any) -> None:
        try:
            marks = badge(node)
            button.setText(f"Edit in ComfyUI {marks}".strip())
            err = node.webui_state.get("error")
            button.setToolTip(f"web UI: {err}" if err else "edit this workflow in its server's ComfyUI web UI\n"
                              "● edited in the web UI, not synced · ◆ changed on the canvas since the push")
        except RuntimeError:  # the widget is gone with its node
            node.run_changed.unsub(update)

    button.clicked.connect(lambda: edit_in_comfyui(node))
    node.run_changed.sub(update)
    update()
    return button


def add_actions(node_gui: Any) -> None:
    """Entries of the node's context menu: Edit in ComfyUI, save to / load from the server's workflows."""
    node = node_gui.node
    node_gui.actions["Edit in ComfyUI"] = {"method": lambda: edit_in_comfyui(node)}
    node_gui.actions["Save workflow to server…"] = {"method": lambda: gui_sync.save_to_server(node, _main_window())}
    node_gui.actions["Load workflow from server…"] = {"method": lambda: gui_sync.load_from_server(node, _main_window())}


def node_buttons(node: WorkflowNode) -> QWidget:
    """The inspector's row: Edit in ComfyUI, Save to server…, Load from server…."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit_button(node))
    for text, fn in (("Save to server…", gui_sync.save_to_server), ("Load from server…", gui_sync.load_from_server)):
        b = QPushButton(text)
        b.clicked.connect(lambda _=False, fn=fn: fn(node, box.window()))
        row.addWidget(b)
    row.addStretch(1)
    return box


def prepare_app() -> None:
    """Call before the QApplication exists: QtWebEngine is imported first (it needs shared OpenGL
    contexts from the start); as root Chromium runs without its sandbox, which refuses root."""
    import os

    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--log-level=3")  # Chromium's own log is noise
    from qtpy.QtCore import QCoreApplication

    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.AA_ShareOpenGLContexts)


def open_selected(server_id: str | None) -> None:
    """The servers dock's "Open web UI": the selected server's web UI (a message when none is selected)."""
    if not server_id:
        QMessageBox.information(_main_window(), "Open web UI", "Select a server first.")
        return
    open_web_ui(server_id)
