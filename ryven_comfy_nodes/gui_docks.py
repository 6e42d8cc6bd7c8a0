"""The servers dock: health, queue, VRAM per server, and a live plot of one metric."""
from __future__ import annotations

import logging
import time
from typing import Any

import pyqtgraph as pg
from qtpy.QtCore import QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from comfy_backend import MetricsSeries, ServerSnapshot

from .context import current_context
from .gui_node import health_colour
from .threads import when_done

log = logging.getLogger(__name__)

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
        self._asked = False  # a metrics request is in flight: do not pile up another
        lay.addWidget(self.plot)
        ctx = current_context(create=False)
        if ctx is not None:
            ctx.server_changed.sub(self.on_server)
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
                item.setForeground(QColor(health_colour(snap.health)))
            self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def refresh_plot(self) -> None:
        """Ask the backend for the plotted metric; the plot is drawn when the answer arrives."""
        ctx = current_context(create=False)
        if ctx is None or self._asked or not self.isVisible():
            return
        field = METRICS[self.metric.currentText()]
        self._asked = True
        when_done(ctx.orch.metrics_series([field]), ctx.post, lambda series: self._draw(field, series), self._not_drawn)

    def _not_drawn(self, exc: BaseException) -> None:
        self._asked = False
        log.debug("no metrics to plot: %s", exc)

    def _draw(self, field: str, by_server: MetricsSeries) -> None:
        self._asked = False
        try:
            self.isVisible()
        except RuntimeError:  # the dock was deleted while the request was in flight
            return
        if field != METRICS[self.metric.currentText()]:
            self.refresh_plot()  # the choice changed meanwhile
            return
        now = time.time()
        for i, sid in enumerate(sorted(by_server)):
            series = by_server[sid].get(field, [])
            xs = [t - now for t, v in series if v is not None]
            ys = [(v / 2**30 if field == "vram_free" else v) for t, v in series if v is not None]
            curve = self.curves.get(sid)
            if curve is None:
                curve = self.plot.plot([], [], pen=pg.mkPen(_PENS[i % len(_PENS)], width=2), name=sid)
                self.curves[sid] = curve
            curve.setData(xs, ys)

    def closeEvent(self, event: Any) -> None:
        ctx = current_context(create=False)
        if ctx is not None:
            ctx.server_changed.unsub(self.on_server)
        super().closeEvent(event)
