"""Charts of every server's metrics (pyqtgraph): one line per server plus the pool total.

A timer asks the core for the samples taken since the last ask (``metrics_series(since=…)``),
appends them to in-memory buffers here, and redraws from those: nothing is done per event,
each curve is cut to the chosen window and thinned to at most ``MAX_POINTS`` points.
"""
from __future__ import annotations

import bisect
import html
import logging
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QComboBox, QGraphicsTextItem, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from comfy_backend import MetricsSeries

from .context import current_context
from .gui_servers import BUTTON_STYLE
from .threads import when_done

log = logging.getLogger(__name__)

#: chart title -> [(field, scale, style)]; style "solid" or "dash" (a second figure on the same chart)
CHARTS: dict[str, list[tuple[str, float, str]]] = {
    "jobs / min": [("jobs_per_minute", 1.0, "solid")],
    "mean processing s / job": [("mean_run_seconds", 1.0, "solid")],
    "submit → start s": [("queue_wait_seconds", 1.0, "solid")],
    "queue: ours — others ┄": [("queue_ours", 1.0, "solid"), ("foreign", 1.0, "dash")],
    "GiB: VRAM — RAM ┄": [("vram_used", 1 / 2**30, "solid"), ("ram_used", 1 / 2**30, "dash")],
    "use %: CPU — GPU ┄": [("cpu_percent", 1.0, "solid"), ("gpu_percent", 1.0, "dash")],
}
#: how the pool total of a figure is formed from the servers' figures
MEAN_FIELDS = {"mean_run_seconds", "queue_wait_seconds", "cpu_percent", "gpu_percent"}
#: what an empty chart says (no finite value of any of its figures in the window)
EMPTY_TEXT = {
    "jobs / min": "no job finished in this window yet",
    "mean processing s / job": "no processing times in this window yet",
    "submit → start s": "no start delays in this window yet",
    "queue: ours — others ┄": "no queue samples from the servers yet",
    "GiB: VRAM — RAM ┄": "no memory figures from the servers yet",
    "use %: CPU — GPU ┄": "no CPU or GPU figures: the servers need the ryven_comfy agent (README, Monitoring)",
}
#: the charts' grid by the panel's shape: a short, wide dock (the editor's bottom tabs) gets one row
#: of six, a taller one two rows of three, a narrow one three rows of two
WIDE_RATIO, SQUARE_RATIO = 3.5, 1.0
#: below this height per row the x axis label ("min ago") is left out (the toolbar says it)
AXIS_LABEL_MIN_ROW_PX = 200
FIELDS = sorted({f for lines in CHARTS.values() for f, _, _ in lines})
WINDOWS = {"5 min": 300.0, "15 min": 900.0, "60 min": 3600.0}
KEEP_S = 3600.0
MAX_POINTS = 300
POOL_BUCKET_S = 10.0
REFRESH_MS = 2000
PENS = ["#60a5fa", "#f472b6", "#34d399", "#fbbf24", "#a78bfa", "#f87171", "#22d3ee", "#a3e635", "#fb923c", "#e879f9"]
POOL = "pool"


class SeriesStore:
    """server id -> field -> (times, values), appended as samples arrive, older than an hour dropped."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
        self.last_t: float | None = None

    def add(self, by_server: MetricsSeries) -> None:
        for sid, fields in by_server.items():
            per = self.data.setdefault(sid, {})
            for f, points in fields.items():
                ts, vs = per.setdefault(f, ([], []))
                for t, v in points:
                    ts.append(t)
                    vs.append(float("nan") if v is None else float(v))
                    if self.last_t is None or t > self.last_t:
                        self.last_t = t
        cut = time.time() - KEEP_S
        for per in self.data.values():
            for ts, vs in per.values():
                k = bisect.bisect_left(ts, cut)
                if k:
                    del ts[:k]
                    del vs[:k]

    def window(self, sid: str, field: str, start: float) -> tuple[np.ndarray, np.ndarray]:
        """The points at or after ``start``, thinned to MAX_POINTS (every k-th point)."""
        ts, vs = self.data.get(sid, {}).get(field, ([], []))
        k = bisect.bisect_left(ts, start)
        n = len(ts) - k
        step = max(1, n // MAX_POINTS)
        return np.asarray(ts[k::step], dtype=float), np.asarray(vs[k::step], dtype=float)

    def pool(self, field: str, start: float, now: float) -> tuple[np.ndarray, np.ndarray]:
        """The pool total per POOL_BUCKET_S: the sum of the servers' last values in each bucket
        (the mean for times and percentages)."""
        edges = np.arange(start, now + POOL_BUCKET_S, POOL_BUCKET_S)
        if len(edges) < 2:
            return np.array([]), np.array([])
        total = np.zeros(len(edges) - 1)
        count = np.zeros(len(edges) - 1)
        for sid in self.data:
            ts, vs = self.window(sid, field, start)
            if not len(ts):
                continue
            idx = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, len(edges) - 2)
            last = np.full(len(edges) - 1, np.nan)
            last[idx] = vs  # later samples in a bucket overwrite earlier ones
            ok = ~np.isnan(last)
            total[ok] += last[ok]
            count[ok] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            ys = total / count if field in MEAN_FIELDS else np.where(count > 0, total, np.nan)
        return edges[1:], ys


def legend_html(servers: list[str]) -> str:
    """The legend's text: each server's colour and id, then the pool's; breaks only between entries
    (the swatch and its id stay together when the legend wraps)."""
    entries = [(PENS[i % len(PENS)], sid) for i, sid in enumerate(servers)] + [("#e5e5e5", POOL)]
    # a word joiner after each character lines may break at ('-', '/', '.'); Qt's rich text ignores
    # ``white-space: nowrap`` on a span
    return " &nbsp; ".join(f'<span style="color:{colour}">■&nbsp;{_unbroken(html.escape(sid))}</span>'
                           for colour, sid in entries)


def _unbroken(text: str) -> str:
    return "".join(c + "\u2060" if c in "-/._" else c for c in text)


class ChartsPanel(QWidget):
    """Six charts, a window choice, pause, hover read-outs and a highlighted server."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Window"))
        self.window_box = QComboBox()
        self.window_box.addItems(list(WINDOWS))
        self.window_box.currentIndexChanged.connect(lambda _: self.redraw())
        bar.addWidget(self.window_box)
        # a checkable button, not a check box: the theme draws an unchecked box nearly invisible
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.setToolTip("stop updating the charts (samples are still collected)")
        self.pause.setStyleSheet(BUTTON_STYLE)
        self.pause.toggled.connect(self._paused)
        bar.addWidget(self.pause)
        bar.addWidget(QLabel("Highlight"))
        self.highlight_box = QComboBox()
        self.highlight_box.addItem("(none)")
        self.highlight_box.currentIndexChanged.connect(lambda _: self.redraw())
        bar.addWidget(self.highlight_box)
        self._legend_for: list[str] = []
        self.readout = QLabel("x axis: minutes ago · hover a chart for every server's value")
        self.readout.setMinimumWidth(50)  # a long read-out is cut, never widens the window
        bar.addWidget(self.readout, 1)
        lay.addLayout(bar)
        # Which colour is which server, on a row of its own that wraps onto more lines: in the
        # toolbar, ten servers' names were cut at 1280 px (the colours of the last ones unseen).
        self.legend = QLabel("")
        self.legend.setToolTip("line colours; click a line (or a server's row) to highlight that server")
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("QLabel{background:#000;padding:1px 6px;border-radius:3px}")  # as on the plots
        self.legend.hide()  # until there is a server to name
        lay.addWidget(self.legend)
        self.view = pg.GraphicsLayoutWidget()
        lay.addWidget(self.view, 1)
        self.plots: dict[str, Any] = {}
        self.empty: dict[str, QGraphicsTextItem] = {}  # chart -> the text saying why it is empty
        self._seen: dict[str, bool] = {}  # chart -> a finite value drawn in the redraw in progress
        self.columns = 0
        for title in CHARTS:
            plot = pg.PlotItem(title=title)
            plot.setTitle(title, size="9pt")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            plot.getAxis("bottom").setLabel("min ago")
            plot.setClipToView(True)
            self.plots[title] = plot
            self.empty[title] = self._empty_text(plot, EMPTY_TEXT[title])
        self._arrange()
        for title, plot in self.plots.items():
            plot.scene().sigMouseMoved.connect(lambda pos, p=plot, t=title: self._hover(p, t, pos))
        self.curves: dict[tuple[str, str, str], Any] = {}  # (chart, field, server) -> curve
        self._style: dict[tuple[str, str, str], tuple[str, str]] = {}  # curve key -> (line style, colour)
        self._todo: list[tuple[str, tuple[str, float, str], int, str]] = []  # (chart, figure, index, server)
        self._now = time.time()  # the time the redraw in progress draws up to
        self._drawing = False
        self._again = False  # samples came during a pass: one more pass once it ends
        self.created = 0  # curves created so far (each once)
        self.draws = 0  # figures drawn so far (a chart holds one or two)
        self.store = SeriesStore()
        self.highlight: str | None = None
        self._asked = False
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.fetch)
        self.timer.start(REFRESH_MS)

    # -- layout ----------------------------------------------------------------------
    @staticmethod
    def _empty_text(plot: Any, text: str) -> QGraphicsTextItem:
        """A centred grey note inside ``plot``'s view box (pixel coordinates: it never moves with the data)."""
        item = QGraphicsTextItem(plot.vb)
        item.setDefaultTextColor(pg.mkColor("#9ca3af"))
        item.setHtml(f'<div align="center">{text}</div>')

        def place() -> None:
            r = plot.vb.rect()
            item.setTextWidth(max(r.width() - 16, 60))
            h = item.boundingRect().height()
            item.setPos(r.left() + 8, r.top() + max((r.height() - h) / 2, 0))

        plot.vb.sigResized.connect(lambda *_: place())
        place()
        return item

    def _arrange(self) -> None:
        """Lay the charts out in the grid that suits the panel's shape (only when that grid changes)."""
        w, h = max(self.view.width(), 1), max(self.view.height(), 1)
        columns = 6 if w / h >= WIDE_RATIO else 3 if w / h >= SQUARE_RATIO else 2
        rows = -(-len(CHARTS) // columns)
        for plot in self.plots.values():
            plot.getAxis("bottom").showLabel(h / rows >= AXIS_LABEL_MIN_ROW_PX)
        if columns == self.columns:
            return
        self.columns = columns
        layout = self.view.ci
        for plot in self.plots.values():
            if plot in layout.items:
                layout.removeItem(plot)
        for i, plot in enumerate(self.plots.values()):
            layout.addItem(plot, row=i // columns, col=i % columns)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._arrange()

    def _paused(self, paused: bool) -> None:
        self.pause.setText("Paused: resume" if paused else "Pause")
        if not paused:
            self.fetch()

    # -- data ------------------------------------------------------------------------
    def fetch(self) -> None:
        """Ask for the samples taken since the last ask (never waits; drawn when they arrive)."""
        ctx = current_context(create=False)
        if ctx is None or self._asked or self.pause.isChecked():
            return
        self._asked = True
        when_done(ctx.orch.metrics_series(FIELDS, since=self.store.last_t), ctx.post, self._got, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._asked = False
        log.debug("no metrics to chart: %s", exc)

    def _got(self, by_server: MetricsSeries) -> None:
        self._asked = False
        self.store.add(by_server)
        try:
            visible = self.isVisible()
        except RuntimeError:  # the dock was deleted while the request was in flight
            return
        if visible:
            self.redraw()

    def showEvent(self, event: Any) -> None:
        """Samples that came while the charts were hidden (another tab) are drawn now."""
        super().showEvent(event)
        if self.store.data:
            self.redraw()

    def set_highlight(self, server_id: str | None) -> None:
        """Draw ``server_id``'s lines thick and the others faint (None: all alike)."""
        i = self.highlight_box.findText(server_id) if server_id else 0
        self.highlight_box.setCurrentIndex(max(i, 0))

    # -- drawing ---------------------------------------------------------------------
    def _servers(self) -> list[str]:
        return sorted(self.store.data)

    def redraw(self) -> None:
        """Redraw every chart from the buffers: one curve per turn of the event loop (creating or
        setting the data of ~90 curves at once froze the window for 100-500 ms), curves created
        once and their pens set only when the highlight changes."""
        servers = self._servers()
        for sid in servers:
            if self.highlight_box.findText(sid) < 0:
                self.highlight_box.addItem(sid)
        if servers != self._legend_for:
            self._legend_for = list(servers)
            self.legend.setText(legend_html(servers))
            self.legend.setVisible(bool(servers))
        highlight = self.highlight_box.currentText() if self.highlight_box.currentIndex() > 0 else None
        if highlight != self.highlight:
            self.highlight = highlight
            for key, curve in self.curves.items():
                curve.setPen(self._pen(key[2], self._style[key]))
        if self._drawing:
            # A pass is under way: finish it, then start one more. Restarting it here would, on
            # a machine slower than the refresh period, redraw the first charts forever and
            # never reach the last ones.
            self._again = True
            return
        self._start_pass()
        self._drawing = True
        QTimer.singleShot(0, self._draw_next)

    def _start_pass(self) -> None:
        """Queue every curve of every chart, up to now."""
        self._now = time.time()
        self._seen = dict.fromkeys(CHARTS, False)
        self._todo = [(title, line, i, sid) for title, lines in CHARTS.items() for line in lines
                      for i, sid in enumerate([*self._servers(), POOL])]

    @property
    def drawing(self) -> bool:
        """True while a redraw is still going through the charts."""
        return self._drawing

    def _draw_next(self) -> None:
        """Draw the next curve due, then give the event loop its turn before the one after."""
        if not self._todo and self._again:
            self._again = False
            self._start_pass()
        if not self._todo:
            self._drawing = False
            return
        title, line, i, sid = self._todo.pop(0)
        try:
            self._draw_curve(title, line, i, sid)
        except RuntimeError:  # the panel was deleted meanwhile
            self._drawing = False
            return
        QTimer.singleShot(0, self._draw_next)

    def _draw_curve(self, title: str, line: tuple[str, float, str], i: int, sid: str) -> None:
        """One server's (or the pool's) curve of one figure; the pool's, drawn last, sets the range."""
        field, scale, style = line
        now = self._now
        start = now - WINDOWS[self.window_box.currentText()]
        plot = self.plots[title]
        xs, ys = self.store.pool(field, start, now) if sid == POOL else self.store.window(sid, field, start)
        curve = self._curve(plot, title, field, sid, i, style)
        curve.setData((xs - now) / 60.0, ys * scale, connect="finite")
        if len(ys) and np.isfinite(ys).any():
            self._seen[title] = True
            self.empty[title].setVisible(False)  # at once: a line drawn over "no figures" reads as a lie
        if sid == POOL:
            plot.setXRange((start - now) / 60.0, 0, padding=0)
            self.draws += 1
            if line == CHARTS[title][-1]:  # the chart's last curve: say so when nothing was drawn
                self.empty[title].setVisible(not self._seen.get(title, False))

    def _pen(self, sid: str, style_colour: tuple[str, str]) -> Any:
        style, colour = style_colour
        width = 3 if sid == self.highlight else (2 if sid == POOL else 1.5)
        pen = pg.mkPen(colour, width=width, style=pg.QtCore.Qt.DashLine if style == "dash" else pg.QtCore.Qt.SolidLine)
        if self.highlight and sid not in (self.highlight, POOL):
            faded = pg.mkColor(colour)
            faded.setAlpha(60)
            pen.setColor(faded)
        return pen

    def _curve(self, plot: Any, title: str, field: str, sid: str, i: int, style: str) -> Any:
        """The curve of (chart, field, server), created the first time only."""
        key = (title, field, sid)
        curve = self.curves.get(key)
        if curve is None:
            colour = "#e5e5e5" if sid == POOL else PENS[i % len(PENS)]
            curve = plot.plot([], [], pen=self._pen(sid, (style, colour)), name=sid)
            curve.setCurveClickable(True, width=6)
            curve.sigClicked.connect(lambda _c, _ev=None, s=sid: self.set_highlight(None if s == POOL else s))
            self.curves[key] = curve
            self._style[key] = (style, colour)
            self.created += 1
        return curve

    def _hover(self, plot: Any, title: str, pos: Any) -> None:
        """Read-out of every server's value under the mouse (the nearest sample in time)."""
        if not plot.sceneBoundingRect().contains(pos):
            return
        x_min = plot.vb.mapSceneToView(pos).x()
        t = time.time() + x_min * 60.0
        parts = []
        for field, scale, _ in CHARTS[title]:
            for sid in self._servers():
                ts, vs = self.store.data.get(sid, {}).get(field, ([], []))
                k = min(bisect.bisect_left(ts, t), len(ts) - 1)
                if k >= 0 and ts and abs(ts[k] - t) < 30 and vs[k] == vs[k]:
                    parts.append(f"{sid} {vs[k] * scale:.3g}")
        self.readout.setText(f"{title} at {-x_min:.1f} min ago: " + (", ".join(parts) or "no data"))
