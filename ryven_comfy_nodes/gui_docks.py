"""The servers dock: health, queue, VRAM per server, and a live plot of one metric."""
from __future__ import annotations

import time
from typing import Any

import pyqtgraph as pg
from qtpy.QtCore import QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from comfy_backend.models import ServerSnapshot

from .context import current_context
from .gui_node import HEALTH_COLOURS

COLUMNS = ("server", "health", "queue", "ours", "VRAM free/total", "latency", "jobs/min")
METRICS = {"queue (pending)": "queue_pending", "queue (running)": "queue_running", "latency ms": "latency_ms",
           "VRAM free GiB": "vram_free", "our jobs in flight": "in_flight"}
_PENS = ["#60a5fa", "#f472b6", "#34d399", "#fbbf24", "#a78bfa", "#f87171", "#22d3ee", "#a3e635"]


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.1f}G"


class ServersPanel(QWidget):
    """Table of servers (refreshed on every server event) and a metrics plot (refreshed each second)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QHBoxLayout(self)  # table and plot side by side: the dock stays short
        left = QVBoxLayout()
        outer.addLayout(left, 3)
        lay = QVBoxLayout()
        outer.addLayout(lay, 2)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        left.addWidget(self.table)
        row = QHBoxLayout()
        row.addWidget(QLabel("Plot"))
        self.metric = QComboBox()
        self.metric.addItems(list(METRICS))
        self.metric.currentIndexChanged.connect(lambda _: self.refresh_plot())
        row.addWidget(self.metric)
        row.addStretch(1)
        lay.addLayout(row)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.addLegend(offset=(5, 5))
        self.plot.setLabel("bottom", "seconds ago")
        self.curves: dict[str, Any] = {}
        lay.addWidget(self.plot)
        ctx = current_context(create=False)
        if ctx is not None:
            ctx.server_listeners.append(self.on_server)
            for snap in ctx.servers.values():
                self.on_server(snap)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh_plot)
        self.timer.start(1000)

    def on_server(self, snap: ServerSnapshot) -> None:
        ids = [self.table.item(r, 0).text() for r in range(self.table.rowCount())]
        if snap.id in ids:
            r = ids.index(snap.id)
        else:
            r = self.table.rowCount()
            self.table.insertRow(r)
        ours = f"{snap.in_flight}/{snap.max_concurrent}"
        lat = "-" if snap.latency_ms is None else f"{snap.latency_ms:.0f}ms"
        cells = (snap.id, snap.health.value, str(snap.queue_running + snap.queue_pending), ours,
                 f"{_gib(snap.vram_free)}/{_gib(snap.vram_total)}", lat, f"{snap.jobs_per_minute:.1f}")
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if c == 1:
                item.setForeground(QColor(HEALTH_COLOURS[snap.health.colour]))
            self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def refresh_plot(self) -> None:
        ctx = current_context(create=False)
        if ctx is None or not self.isVisible():
            return
        field = METRICS[self.metric.currentText()]
        now = time.time()
        for i, sid in enumerate(sorted(ctx.servers)):
            try:
                series = ctx.orch.metrics_series(sid, field)
            except Exception:
                return
            xs = [t - now for t, v in series if v is not None]
            ys = [(v / 2**30 if field == "vram_free" else v) for t, v in series if v is not None]
            curve = self.curves.get(sid)
            if curve is None:
                curve = self.plot.plot([], [], pen=pg.mkPen(_PENS[i % len(_PENS)], width=2), name=sid)
                self.curves[sid] = curve
            curve.setData(xs, ys)

    def closeEvent(self, event: Any) -> None:
        ctx = current_context(create=False)
        if ctx is not None and self.on_server in ctx.server_listeners:
            ctx.server_listeners.remove(self.on_server)
        super().closeEvent(event)
