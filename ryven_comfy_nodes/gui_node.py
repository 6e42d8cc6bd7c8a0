"""The workflow node in the editor: status with server, progress, thumbnails, Run / Run preview."""
from __future__ import annotations

import html
import logging
import time
from itertools import pairwise
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QHBoxLayout, QMenu, QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget
from ryven.gui_env import NodeMainWidget

from comfy_backend import Health, WorkflowError

from . import gui_paint, gui_ryven_fixes, gui_webui
from .context import current_context
from .gui_inspector import WorkflowInspector
from .gui_media import ThumbStrip
from .gui_params import ParamInputWidget
from .gui_widgets import KeepActions, WrapLabel, without_status_word
from .run_state import RunStatus
from .values import is_image_source
from .workflow_node import WorkflowNode

log = logging.getLogger(__name__)

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
    """Redraws of node widgets, coalesced per node and spread over turns of the event loop so that
    a hundred nodes reporting progress at once never freeze the window.

    A burst of changes is collected for ``DELAY_MS``; then the nodes due are redrawn a few per turn,
    ``GAP_MS`` apart (the event loop repaints what the last few changed in between). How many per
    turn adapts to what a turn really costs: the time the redraws took plus how late the next turn
    came (the repaint they caused and whatever else the loop had to do). Over ``FRAME_MS`` the
    count halves, under it it grows by one: a turn stays near ``FRAME_MS`` whatever the number of
    nodes, their size or the machine's load. A redraw that re-lays out its node (which repaints
    all of it) counts as ``RELAYOUT_WEIGHT`` redraws.
    """

    DELAY_MS = 100
    GAP_MS = 15
    FRAME_MS = 20.0
    BUDGET_MS = 10.0  # the redraws themselves, per turn
    MAX_PER_TURN = 8
    RELAYOUT_WEIGHT = 3

    def __init__(self) -> None:
        self._due: dict[int, WorkflowMainWidget] = {}
        self._scheduled = False
        self.per_turn = 3.0
        self._last: tuple[float, float] | None = None  # (end of the last turn, its redraw ms) while a run of turns goes on

    def add(self, widget: WorkflowMainWidget) -> None:
        self._due[id(widget)] = widget
        if not self._scheduled:
            self._scheduled = True
            self._last = None
            QTimer.singleShot(self.DELAY_MS, self._run)

    def _adapt(self, began: float) -> None:
        if self._last is None:
            return
        ended, work_ms = self._last
        late_ms = max(0.0, (began - ended) * 1000 - self.GAP_MS)
        if work_ms + late_ms > self.FRAME_MS:
            self.per_turn = max(1.0, self.per_turn / 2)
        else:
            self.per_turn = min(float(self.MAX_PER_TURN), self.per_turn + 1)

    def _run(self) -> None:
        began = time.perf_counter()
        self._adapt(began)
        n = 0
        while self._due and n < int(self.per_turn) and (time.perf_counter() - began) * 1000 < self.BUDGET_MS:
            key = next(iter(self._due))  # the longest waiting first
            widget = self._due.pop(key)
            try:
                n += self.RELAYOUT_WEIGHT if widget._refresh_now() else 1
            except Exception:  # a bug in one node's redraw must not stop every node's redraws
                log.exception("redrawing node %r failed", getattr(widget.node, "title", "?"))
                n += 1
        if self._due:
            now = time.perf_counter()
            self._last = (now, (now - began) * 1000)
            QTimer.singleShot(self.GAP_MS, self._run)  # the rest after the event loop had its turn (and a paint)
        else:
            self._scheduled = False
            self._last = None


_QUEUE = RefreshQueue()


class WorkflowMainWidget(NodeMainWidget, QWidget):
    def __init__(self, params: Any) -> None:
        NodeMainWidget.__init__(self, params)
        QWidget.__init__(self)
        node: WorkflowNode = self.node
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(3)
        self.status = WrapLabel(STATUS_WIDTH)
        self.status.setFixedWidth(STATUS_WIDTH)  # a fixed width: a new message changes the height at most
        lay.addWidget(self.status)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.progress.setStyleSheet(PROGRESS_STYLE)
        lay.addWidget(self.progress)
        self.attempts = WrapLabel(300)
        self.attempts.setStyleSheet("color:#fbbf24")
        self.attempts.setVisible(False)
        lay.addWidget(self.attempts)
        self.thumbs = ThumbStrip(underlay=self.upstream_image, changed=self._relayout_soon)
        lay.addWidget(self.thumbs)
        row = QHBoxLayout()
        self._row = row
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
        self._relayout_due = False
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

    def _relayout_soon(self) -> None:
        """The thumbnails changed: make sure the node fits them once their layout has settled
        (on a later turn, within the queue's budget like any redraw)."""
        if not self._relayout_due:
            self._relayout_due = True
            _QUEUE.add(self)

    def _refresh_now(self) -> bool:
        """Redraw what is due; True if the node was re-laid out."""
        pending, relayout = self._pending, self._relayout_due
        self._pending = self._relayout_due = False
        key = self._shape_key
        try:
            if pending:
                self._refresh()
            if relayout and not self._fitted():  # not already fitted by the refresh
                self._reshape()
                return True
        except RuntimeError:  # the Qt widget was deleted (node removed)
            self.node.run_changed.unsub(self.refresh)
        return self._shape_key != key

    def _refresh(self) -> None:
        run = self.node.run
        colour = _STATUS_COLOURS.get(run.status, "#d1d5db")
        shown = without_status_word(run.status.value, run.message)
        short = shown if len(shown) <= STATUS_CHARS else shown[:STATUS_CHARS - 1] + "…"
        msg = f" — {html.escape(short)}" if shown else ""
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
        # the button row's width too: "Edit in ComfyUI" gains marks (● ◆) after a web-UI edit, and
        # the node cut it at its right edge when it was not re-laid out for them
        key = (len(items), self.status.heightForWidth(STATUS_WIDTH), self.attempts.heightForWidth(300) if moved else 0,
               can_copy, self._row.sizeHint().width())
        if key != self._shape_key:  # re-laying out a Ryven node is costly: only when the size changes
            self._shape_key = key
            self._reshape()
        else:  # laid out now, not on the next turn: what changed is repainted once, in this turn's paint
            self.layout().activate()

    def _fitted(self) -> bool:
        """The widget and its node item both have the widget's size hint.

        Qt may grow the widget itself when its layout changes (a thumbnail arrives): then only the
        item (the main widget's proxy) is still too small, and the node would stay clipped.
        """
        hint = self.sizeHint()
        if self.size() != hint:
            return False
        widget = getattr(getattr(self, "node_item", None), "widget", None)
        proxy = getattr(widget, "main_widget_proxy", None)
        if proxy is None:
            return True
        size = proxy.size()
        return size.width() >= hint.width() and size.height() >= hint.height()

    def _reshape(self) -> None:
        try:
            reshape(self)
        except RuntimeError:  # the widget was deleted (node removed) before a deferred reshape
            pass


class WorkflowGui(KeepActions):
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
        if item is not None and not item.initializing and not getattr(self, "_cache_due", False):
            # ports added by a respec, once its item exists: one walk of the node for all of them
            self._cache_due = True
            QTimer.singleShot(0, lambda: self._cache_parts(item))

    def _cache_parts(self, item: Any) -> None:
        self._cache_due = False
        gui_paint.cache_static_parts(item)

    def run_node(self) -> None:
        ctx = current_context()
        if ctx is not None:
            try:
                ctx.runner.run_nodes([self.node])
            except WorkflowError as exc:  # a loop upstream: nothing ran
                self.node.mark_failed(str(exc))
