"""The workflow node in the editor: status with server, progress, thumbnails, Run / Run preview."""
from __future__ import annotations

import html
import time
from itertools import pairwise
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QHBoxLayout, QLabel, QMenu, QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget
from ryven.gui_env import NodeGUI, NodeMainWidget

from comfy_backend import Health, WorkflowError

from . import gui_paint, gui_ryven_fixes, gui_webui
from .context import current_context
from .gui_inspector import WorkflowInspector
from .gui_media import ThumbStrip
from .gui_params import ParamInputWidget
from .run_state import RunStatus
from .values import is_image_source
from .workflow_node import WorkflowNode

# Ryven's canvas, before any node is drawn: bounds computed by Qt, two defects fixed
gui_paint.native_bounds()
gui_ryven_fixes.apply()

_STATUS_COLOURS = {
    RunStatus.DONE: "#4ade80", RunStatus.FAILED: "#f87171", RunStatus.BLOCKED: "#fbbf24",
    RunStatus.CANCELLED: "#9ca3af", RunStatus.RUNNING: "#60a5fa", RunStatus.QUEUED: "#c4b5fd",
    RunStatus.SUBMITTED: "#c4b5fd", RunStatus.UPLOADING: "#93c5fd", RunStatus.STARTING: "#93c5fd",
    RunStatus.PENDING: "#d1d5db", RunStatus.IDLE: "#9ca3af",
}


def reshape(main_widget: Any) -> None:
    """Resize the node item to its main widget's content (not while the item is still being built).

    Ryven sizes the item from the main widget's *current* size, so the widget is first laid
    out and resized to its size hint; without that a grown widget is clipped.
    """
    if not hasattr(main_widget.node_item, "widget"):
        return
    lay = main_widget.layout()
    if lay is not None:
        lay.activate()
    main_widget.adjustSize()
    item = main_widget.node_item
    item.prepareGeometryChange()  # the scene's index must learn the new bounds
    # what Ryven's NodeItem.update_shape does, minus its repaint of the whole viewport (with
    # many nodes that redraws every node on every reshape): only this item is redrawn; and minus
    # its rebuild of the node's whole layout (a new header, collapse button and port layouts each
    # time, ~2 ms and a repaint of every port): the main widget's proxy is resized in place, which
    # Ryven's update_shape skips the rebuild for while the item is "initializing"
    was = item.initializing
    item.initializing = True
    try:
        item.widget.update_shape()
    finally:
        item.initializing = was
    item.update_conn_pos()
    item.update()


PROGRESS_STYLE = ("QProgressBar{color:#f3f4f6;background:#111827;border:1px solid #374151;border-radius:3px;"
                  "text-align:center;font-size:11px}QProgressBar::chunk{background:#2563eb;border-radius:2px}")
STATUS_WIDTH = 260
#: longer messages are cut in the node; the full text is in the tooltip and "Copy error"
STATUS_CHARS = 160


def attempts_line(snap: Any) -> str:
    """"retried on local1 after local3: connection lost" when a job moved between servers; else ""."""
    attempts = list(getattr(snap, "attempts", ()) or ())
    if len(attempts) < 2:
        return ""
    parts = []
    for before, after in pairwise(attempts):
        why = f": {before.error.message}" if before.error is not None and before.error.message else ""
        parts.append(f"retried on {after.server} after {before.server} ({before.outcome.value}{why})")
    return "; ".join(parts)


#: how a server's health is drawn (dots on nodes, the servers dock); anything else is grey
HEALTH_COLOURS = {Health.ONLINE: "#22c55e", Health.DEGRADED: "#eab308", Health.OFFLINE: "#ef4444"}
GREY = "#9ca3af"


def health_colour(health: Health | None) -> str:
    """The colour a server's health is drawn in."""
    return HEALTH_COLOURS.get(health, GREY) if health is not None else GREY


def server_html(server_id: str | None) -> str:
    """The server id with a dot coloured by the server's health."""
    if not server_id:
        return ""
    ctx = current_context(create=False)
    snap = ctx.servers.get(server_id) if ctx is not None else None
    colour = health_colour(snap.health if snap is not None else None)
    return f' on <span style="color:{colour}">●</span> <b>{server_id}</b>'


class RefreshQueue:
    """Redraws of node widgets, coalesced: every ``DELAY_MS`` the nodes due are redrawn, at most
    ``BUDGET_MS`` of them per turn of the event loop (the rest on the next turn), so that a hundred
    nodes reporting progress at once never freeze the window."""

    DELAY_MS = 100
    BUDGET_MS = 10.0
    MAX_PER_TURN = 6  # each redrawn node is also repainted (~5 ms for a big node): keep a frame short

    def __init__(self) -> None:
        self._due: dict[int, WorkflowMainWidget] = {}
        self._scheduled = False

    def add(self, widget: WorkflowMainWidget) -> None:
        self._due[id(widget)] = widget
        if not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(self.DELAY_MS, self._run)

    def _run(self) -> None:
        began = time.perf_counter()
        n = 0
        while self._due and n < self.MAX_PER_TURN and (time.perf_counter() - began) * 1000 < self.BUDGET_MS:
            n += 1
            _, widget = self._due.popitem()
            widget._refresh_now()
        if self._due:
            QTimer.singleShot(15, self._run)  # the rest after the event loop had its turn (and a paint)
        else:
            self._scheduled = False


_QUEUE = RefreshQueue()


class WorkflowMainWidget(NodeMainWidget, QWidget):
    def __init__(self, params: Any) -> None:
        NodeMainWidget.__init__(self, params)
        QWidget.__init__(self)
        node: WorkflowNode = self.node
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(3)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setFixedWidth(STATUS_WIDTH)  # a fixed width: a new message changes the height at most
        lay.addWidget(self.status)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.progress.setStyleSheet(PROGRESS_STYLE)
        lay.addWidget(self.progress)
        self.attempts = QLabel()
        self.attempts.setWordWrap(True)
        self.attempts.setMaximumWidth(300)
        self.attempts.setStyleSheet("color:#fbbf24")
        self.attempts.setVisible(False)
        lay.addWidget(self.attempts)
        self.thumbs = ThumbStrip(underlay=self.upstream_image, changed=lambda: QTimer.singleShot(0, self._reshape))
        lay.addWidget(self.thumbs)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("run this node (and any upstream node without a result)")
        self.run_button.clicked.connect(self.run_clicked)
        row.addWidget(self.run_button)
        self.preview_button = QToolButton()
        self.preview_button.setText("Run preview ▾")
        self.preview_button.setToolTip("run only what one output needs")
        self.preview_button.setPopupMode(QToolButton.InstantPopup)
        self.preview_menu = QMenu(self.preview_button)
        self.preview_button.setMenu(self.preview_menu)
        self.preview_menu.aboutToShow.connect(self._fill_preview_menu)
        row.addWidget(self.preview_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_clicked)
        row.addWidget(self.cancel_button)
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy error")
        self.copy_button.setToolTip("copy the full error text")
        self.copy_button.clicked.connect(self.copy_error)
        row.addWidget(self.copy_button)
        row.addWidget(gui_webui.edit_button(node))  # the embedded ComfyUI editor (issue 9)
        lay.addLayout(row)
        self._pending = False
        self._shape_key: tuple = ()
        node.run_changed.sub(self.refresh)
        self._refresh()

    # -- actions ------------------------------------------------------------------------------
    def run_clicked(self) -> None:
        ctx = current_context()
        if ctx is None:
            self.node.mark_failed("no servers configured (start with 'ryven-comfy editor')")
            return
        self._run(lambda: ctx.runner.run_nodes([self.node]))

    def run_preview(self, output_id: str) -> None:
        ctx = current_context()
        if ctx is not None:
            self._run(lambda: ctx.runner.run_preview(self.node, output_id))

    def _run(self, start: Any) -> None:
        """Start a run; one the runner refuses (a loop upstream: nothing ran) fails the node saying why."""
        try:
            start()
        except WorkflowError as exc:
            self.node.mark_failed(str(exc))

    def cancel_clicked(self) -> None:
        ctx = current_context(create=False)
        if ctx is not None:
            ctx.runner.cancel_node(self.node)

    def copy_error(self) -> str:
        """Put the node's full status message on the clipboard (and return it)."""
        from qtpy.QtWidgets import QApplication

        text = self.node.run.message
        QApplication.clipboard().setText(text)
        return text

    def _fill_preview_menu(self) -> None:
        self.preview_menu.clear()
        for o in self.node.spec.outputs:
            act = self.preview_menu.addAction(f"{o.label} ({o.kind})")
            act.triggered.connect(lambda _=False, oid=o.id: self.run_preview(oid))

    def upstream_image(self) -> Any:
        """The value at this node's first connected image input (what its masks were computed from)."""
        for spec in self.node.spec.image_inputs:
            value = self.node.image_source(spec.id)
            if is_image_source(value):
                return value
        return None

    # -- display ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw soon: progress events come in bursts; all nodes due are redrawn together, within
        a time budget per turn of the event loop (see ``RefreshQueue``)."""
        if not self._pending:
            self._pending = True
            _QUEUE.add(self)

    def _refresh_now(self) -> None:
        self._pending = False
        try:
            self._refresh()
        except RuntimeError:  # the Qt widget was deleted (node removed)
            self.node.run_changed.unsub(self.refresh)

    def _refresh(self) -> None:
        run = self.node.run
        colour = _STATUS_COLOURS.get(run.status, "#d1d5db")
        short = run.message if len(run.message) <= STATUS_CHARS else run.message[:STATUS_CHARS - 1] + "…"
        msg = f" — {html.escape(short)}" if run.message else ""
        self.status.setToolTip(run.message)
        target = self.node.target.describe()
        where = server_html(run.server) or (f" <i>({target})</i>" if target != "auto" else "")
        self.status.setText(f'<span style="color:{colour}"><b>{run.status.value}</b></span>{where}{msg}')
        p = run.progress
        if run.status is RunStatus.DONE:
            self.progress.setValue(1000)
            self.progress.setFormat(f"done · {p.node_count} nodes")
        elif run.status is RunStatus.RUNNING:
            self.progress.setValue(int(p.fraction * 1000))
            step = f" · step {p.value:.0f}/{p.max:.0f}" if p.max else ""
            self.progress.setFormat(f"node {p.node_index}/{p.node_count}{step}")
        else:
            self.progress.setValue(0)
            self.progress.setFormat(run.status.value)
        self.run_button.setText("Retry" if run.status.unsuccessful else "Run")
        self.run_button.setEnabled(not run.busy)
        self.cancel_button.setEnabled(run.busy)  # always there: showing it would resize the node twice a run
        can_copy = bool(run.message) and run.status.unsuccessful
        self.copy_button.setVisible(can_copy)
        ctx = current_context(create=False)
        snap = ctx.runner.snapshots.get(run.job_id) if ctx is not None and run.job_id else None
        moved = attempts_line(snap)
        self.attempts.setText(moved)
        self.attempts.setToolTip(moved)
        self.attempts.setVisible(bool(moved))
        kinds = {o.id: o.kind for o in self.node.spec.outputs}
        items = [(ref, kinds.get(oid, "image")) for oid, refs in run.outputs.items() for ref in refs]
        self.thumbs.show_refs(items)
        key = (len(items), self.status.heightForWidth(STATUS_WIDTH), bool(moved), can_copy)
        if key != self._shape_key:  # re-laying out a Ryven node is costly: only when the size changes
            self._shape_key = key
            self._reshape()

    def _reshape(self) -> None:
        try:
            reshape(self)
        except RuntimeError:  # the widget was deleted (node removed) before a deferred reshape
            pass


class WorkflowGui(NodeGUI):
    main_widget_class = WorkflowMainWidget
    main_widget_pos = "below ports"
    input_widget_classes = {"param": ParamInputWidget}
    inspector_widget_class = WorkflowInspector
    wrap_inspector_in_default = False
    color = "#3b82f6"

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        node: WorkflowNode = self.node
        n_img = len(node.spec.image_inputs)
        for i in range(n_img, len(node.inputs)):
            self.input_widgets[node.inputs[i]] = self._widget_spec(i - n_img)
        self.actions["run"] = {"method": self.run_node}
        self.actions["retry"] = {"method": self.run_node}
        gui_webui.add_actions(self)  # Edit in ComfyUI, save to / load from the server's workflows (issue 9)

    def _widget_spec(self, param_index: int) -> dict[str, str]:
        p = self.node.spec.params[param_index]
        multiline = p.type == "STRING" and (p.constraints.multiline or p.input_name in ("text", "prompt"))
        return {"name": "param", "pos": "below" if multiline else "besides"}

    def initialized(self) -> None:
        """Ports built: cache what they paint (see ``gui_paint``)."""
        super().initialized()
        gui_paint.tune_view(self.item.flow_view)
        gui_paint.cache_static_parts(self.item)

    def _on_new_input_added(self, _: Any, index: int, inp: Any) -> None:
        n_img = len(self.node.spec.image_inputs)
        if index >= n_img and index - n_img < len(self.node.spec.params):
            self.input_widgets[inp] = self._widget_spec(index - n_img)
        super()._on_new_input_added(_, index, inp)
        item = self.item
        if item is not None and not item.initializing:  # a port added by a respec, once its item exists
            QTimer.singleShot(0, lambda: gui_paint.cache_static_parts(item))

    def run_node(self) -> None:
        ctx = current_context()
        if ctx is not None:
            try:
                ctx.runner.run_nodes([self.node])
            except WorkflowError as exc:  # a loop upstream: nothing ran
                self.node.mark_failed(str(exc))
