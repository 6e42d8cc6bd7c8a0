"""The monitoring docks: servers (table + manage + export), charts, jobs and log.

``create_docks(main_window, ctx)`` builds them and returns the ``QDockWidget`` objects;
where they go in the window is the editor layout's business (``gui_editor`` /
``gui_layout``). ``ServersPanel`` is the servers dock's widget.
"""
from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from comfy_backend import ServerSnapshot, atomic_write_text

from . import gui_webui
from .context import AppContext, current_context
from .gui_charts import ChartsPanel
from .gui_jobs import JobsPanel
from .gui_log import LogPanel
from .gui_manage_servers import ServerManager
from .gui_servers import BUTTON_STYLE, ServersTable
from .qt_dispatch import QtDispatcher
from .threads import when_done

log = logging.getLogger(__name__)
#: the charts dock's height while it is the raised tab (px): six charts readable in one row
CHARTS_HEIGHT = 300
SAMPLE_KEYS = ("t", "queue_ours", "queue_others", "in_flight", "latency_ms", "vram_used", "vram_total", "ram_used",
               "ram_total", "cpu_percent", "gpu_percent")


def report_csv(report: dict[str, Any]) -> str:
    """The metrics report as CSV: one line per sample (``server`` first), then the job figures."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(("server", *SAMPLE_KEYS))
    for sid, part in report["servers"].items():
        for s in part["samples"]:
            w.writerow((sid, *("" if s[k] is None else s[k] for k in SAMPLE_KEYS)))
    w.writerow(())
    w.writerow(("server", "completed", "failed", "retried", "per_minute", "mean_seconds"))
    for sid, part in report["servers"].items():
        j = part["jobs"]
        w.writerow((sid, j["completed"], j["failed"], j["retried"], j["per_minute"],
                    "" if j["mean_seconds"] is None else j["mean_seconds"]))
    return out.getvalue()


class ServersPanel(QWidget):
    """The servers table with Add / Edit / Enable-Disable / Remove and metrics export."""

    def __init__(self, parent: QWidget | None = None, ctx: AppContext | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx or current_context(create=False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for name, slot in (("Add…", self._add), ("Edit…", self._edit), ("Enable/Disable", self._toggle),
                           ("Remove", self._remove), ("Export metrics…", self._export),
                           ("Open web UI", lambda: gui_webui.open_selected(self.table.selected_id()))):
            b = QPushButton(name)
            b.setStyleSheet(BUTTON_STYLE)
            b.clicked.connect(lambda _=False, f=slot: f())
            bar.addWidget(b)
            self.buttons[name] = b
        self.message = QLabel("")
        bar.addWidget(self.message, 1)
        lay.addLayout(bar)
        self.table = ServersTable(self)
        lay.addWidget(self.table, 1)
        self.manager = ServerManager(self.ctx, self) if self.ctx is not None else None
        if self.ctx is not None:
            self.ctx.server_changed.sub(self.table.on_server)
            for snap in self.ctx.orch.servers():
                self.table.on_server(snap)
            self.destroyed.connect(lambda *_: self._unsub())

    def _unsub(self) -> None:
        if self.ctx is not None:
            self.ctx.server_changed.unsub(self.table.on_server)

    def on_server(self, snap: ServerSnapshot) -> None:
        self.table.on_server(snap)

    def _chosen(self) -> ServerSnapshot | None:
        sid = self.table.selected_id()
        return self.table.snaps.get(sid) if sid else None

    def _show(self) -> None:
        if self.manager is not None:
            self.message.setText(self.manager.last_message)
            self.message.setToolTip(self.manager.last_message)

    def _add(self) -> None:
        if self.manager is not None:
            self.manager.add_dialog()
            self._show()

    def _edit(self) -> None:
        snap = self._chosen()
        if self.manager is not None and snap is not None:
            self.manager.edit_dialog(snap)
            self._show()

    def _toggle(self) -> None:
        snap = self._chosen()
        if self.manager is not None and snap is not None:
            self.manager.set_enabled(snap.id, not snap.enabled)
            self._show()

    def _remove(self) -> None:
        snap = self._chosen()
        if self.manager is not None and snap is not None:
            self.manager.remove_dialog(snap)
            self._show()

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "ryven-comfy-metrics.json",
                                              "JSON (*.json);;CSV (*.csv)")
        if path:
            self.export_metrics(Path(path))

    def export_metrics(self, path: Path) -> None:
        """Write the metrics report (``workflow run --metrics`` shape; CSV for a ``.csv`` name)."""
        if self.ctx is None:
            return

        def write(report: dict[str, Any]) -> None:
            text = report_csv(report) if path.suffix.lower() == ".csv" else json.dumps(report, indent=1) + "\n"
            try:
                atomic_write_text(path, text)
            except OSError as exc:
                self.message.setText(f"metrics not written: {path}: {exc.strerror or exc}")
                log.warning("metrics not written: %s: %s", path, exc)
                return
            self.message.setText(f"metrics written to {path}")

        when_done(self.ctx.orch.metrics_report(), self.ctx.post, write,
                  lambda exc: self.message.setText(f"metrics not read: {exc}"))


def select_node_on_canvas(main_window: Any, node: Any) -> None:
    """Select ``node`` (and only it) in its flow's view and scroll it into sight."""
    flow_uis = getattr(main_window, "flow_UIs", {})
    flow_ui = flow_uis.get(node.flow)
    if flow_ui is None:
        return
    view = flow_ui.flow_view
    item = view.node_items.get(node)
    if item is None:
        return
    view.scene().clearSelection()
    item.setSelected(True)
    view.centerOn(item)


def _dock(main_window: Any, title: str, name: str, widget: QWidget) -> QDockWidget:
    dock = QDockWidget(title, main_window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    return dock


def grow_while_raised(main_window: Any, dock: QDockWidget, height: int) -> None:
    """While ``dock`` is the raised tab of a docked area shorter than ``height``, the area is about
    ``height`` tall; when another tab is raised it goes back to its height (unless the user resized
    it meanwhile). The charts need it: in the editor's compact bottom area (~150 px) six charts were
    a sliver each.
    """
    grown: dict[str, int] = {}

    def resize(h: int) -> bool:
        """Resize the area through its raised tab (resizing a hidden tab does nothing)."""
        try:
            if dock.isFloating() or main_window.dockWidgetArea(dock) == Qt.NoDockWidgetArea:
                return False
            raised = [d for d in [dock, *main_window.tabifiedDockWidgets(dock)] if not d.visibleRegion().isEmpty()]
            if raised:
                main_window.resizeDocks(raised[:1], [h], Qt.Vertical)  # applied on the next layout pass
                return True
        except RuntimeError:  # the window is being deleted
            pass
        return False

    def grew(before: int) -> None:
        if dock.height() > before:
            grown.update(before=before, to=dock.height())

    def grow() -> None:
        before = dock.height()
        if resize(height):
            QTimer.singleShot(0, lambda: QTimer.singleShot(0, lambda: grew(before)))  # after the layout pass

    def changed(visible: bool) -> None:
        if dock.isFloating():
            return
        if visible and dock.height() < height:
            QTimer.singleShot(0, grow)
        elif not visible and grown:
            before, to = grown.pop("before"), grown.pop("to")
            if abs(dock.height() - to) <= 8:  # not resized by hand meanwhile
                # resizeDocks sizes the area, a bit more than the dock: ask as much more as growing took
                QTimer.singleShot(0, lambda: resize(before + height - to))

    dock.visibilityChanged.connect(changed)


def create_docks(main_window: Any, ctx: AppContext | None = None) -> list[QDockWidget]:
    """The monitoring docks (servers, charts, jobs, log), not yet placed in ``main_window``.

    Clicking a server row highlights its lines in the charts; double-clicking a job selects
    its node on the canvas.
    """
    ctx = ctx or current_context(create=False)
    servers = ServersPanel(None, ctx)
    charts = ChartsPanel()
    servers.table.server_clicked.connect(charts.set_highlight)
    jobs = JobsPanel(select_node=lambda node: select_node_on_canvas(main_window, node))
    log_panel = LogPanel(ctx.post if ctx is not None else QtDispatcher().post)
    made = [  # in this order: the editor tabs them as they were created
        _dock(main_window, "ComfyUI servers", "ryven_comfy_servers_dock", servers),
        _dock(main_window, "ComfyUI charts", "ryven_comfy_charts_dock", charts),
        _dock(main_window, "ComfyUI jobs", "ryven_comfy_jobs_dock", jobs),
        _dock(main_window, "ComfyUI log", "ryven_comfy_log_dock", log_panel),
    ]
    grow_while_raised(main_window, made[1], CHARTS_HEIGHT)
    return made


def servers_with_charts(ctx: AppContext | None = None) -> QSplitter:
    """The servers table above the charts in one widget (for a single-dock layout or a screenshot)."""
    split = QSplitter(Qt.Vertical)
    servers = ServersPanel(None, ctx)
    charts = ChartsPanel()
    servers.table.server_clicked.connect(charts.set_highlight)
    split.addWidget(servers)
    split.addWidget(charts)
    return split
