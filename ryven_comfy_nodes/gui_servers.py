"""The servers table: one row per server with a drawn health light, load bars, the current job.

Server events only store the latest snapshot; rows are redrawn by a timer (a few times
a second), so ten servers streaming progress cost one redraw per tick, not one per event.
"""
from __future__ import annotations

import time
from typing import Any

from qtpy.QtCore import QRect, Qt, QTimer, Signal
from qtpy.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from comfy_backend import Health, JobSnapshot, JobState, ServerSnapshot

from .context import current_context
from .gui_node import health_colour

COLUMNS = ("", "server", "url", "tags", "version", "jobs", "queue", "current job", "VRAM", "RAM", "CPU", "GPU",
           "latency", "last error")
C_LIGHT, C_NAME, C_URL, C_TAGS, C_VERSION, C_OURS, C_QUEUE, C_JOB, C_VRAM, C_RAM, C_CPU, C_GPU, C_LAT, C_ERR = range(14)
#: what each column holds (the header's tooltip: short headers, the full meaning on hover)
HEADER_TIPS = (
    "health: green online, yellow degraded, red offline, grey disabled",
    "the server's name and id", "the server's url", "the server's tags (targets of workflow nodes)",
    "ComfyUI version", "our jobs on the server: in flight / max_concurrent",
    "prompts in the server's queue: ours / others' (queued from its web UI or by other users)",
    "the job running there: its node and progress (an offline server: when it was last seen)",
    "VRAM used / total (a CPU server says so)", "RAM used / total",
    "CPU use (needs the ryven_comfy agent on the server)", "GPU use (needs the ryven_comfy agent on the server)",
    "latency of the last health check", "the server's last error",
)
#: the width each column wants (px); a header wider than that gets its own width (see ``readable_header``)
WIDTHS = {C_LIGHT: 26, C_NAME: 140, C_URL: 160, C_TAGS: 80, C_VERSION: 60, C_OURS: 50, C_QUEUE: 64, C_JOB: 180,
          C_VRAM: 100, C_RAM: 110, C_CPU: 50, C_GPU: 50, C_LAT: 64}
#: headers and rows of our tables: Ryven's theme pads header sections by 20 px a side and makes them 35 px
#: tall, which clipped every short column's header to a few letters and hid the third row of a short dock
TABLE_STYLE = "QHeaderView::section{padding:0 4px;height:24px}"
HEADER_PAD = 16
#: the docks' tool bar buttons: the theme's are 34 px tall in 14 px capitals, too big for a short dock
BUTTON_STYLE = "QPushButton{height:22px;min-height:22px;max-height:22px;padding:0 10px;font-size:12px}"  # the section's padding plus room for the separators
BAR_COLUMNS = (C_JOB, C_VRAM, C_RAM, C_CPU, C_GPU)
BAR_ROLE = Qt.UserRole + 1          # fraction 0..1 (None: no bar)
GREY = QColor("#6b7280")  # offline rows: clearly dimmer than the theme's #9f9f9f text, still readable
REFRESH_MS = 300
_lights: dict[str, QIcon] = {}


def light(colour: str) -> QIcon:
    """A filled circle of ``colour`` (cached): the health light."""
    icon = _lights.get(colour)
    if icon is None:
        pm = QPixmap(14, 14)
        pm.fill(Qt.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.Antialiasing)
        p.setBrush(QColor(colour))
        p.setPen(QColor("#303030"))
        p.drawEllipse(1, 1, 12, 12)
        p.end()
        icon = _lights[colour] = QIcon(pm)
    return icon


def gib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**30:.1f}"


def ago(seconds: float) -> str:
    """``12 s`` / ``3 min`` / ``2 h``: how long ago a server was last seen."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def readable_header(table: QTableWidget, widths: dict[int, int], tips: tuple[str, ...] | list[str]) -> None:
    """Make every header of ``table`` readable: compact sections, each column at least as wide as its
    header's text (measured in upper case, as Ryven's theme shows headers), the full meaning in a tooltip,
    and text elided with "…" when the user narrows a column."""
    table.setStyleSheet(TABLE_STYLE)
    header = table.horizontalHeader()
    header.setTextElideMode(Qt.ElideRight)
    header.setMinimumSectionSize(20)
    fm = header.fontMetrics()
    for c in range(table.columnCount()):
        item = table.horizontalHeaderItem(c)
        text = item.text() if item is not None else ""
        if item is not None and c < len(tips):
            item.setToolTip(tips[c])
        need = fm.horizontalAdvance(text.upper()) + HEADER_PAD if text else 0
        if c in widths or need:
            table.setColumnWidth(c, max(widths.get(c, 0), need))


class ForegroundDelegate(QStyledItemDelegate):
    """Draws a cell's text in its own foreground colour (ForegroundRole).

    Ryven's dark theme sets ``QTableView::item, QListView::item {color: …}``, and a style sheet's
    item colour wins over the item's foreground: greyed offline rows and coloured notifications
    all came out in the same grey. Cells without a foreground of their own are drawn as usual.
    """

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Any) -> None:
        brush = index.data(Qt.ForegroundRole)
        if not isinstance(brush, QBrush) or brush.style() == Qt.NoBrush:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        margin = style.pixelMetric(QStyle.PM_FocusFrameHMargin, None, widget) + 1  # as Qt's own item text
        text_rect = style.subElementRect(QStyle.SE_ItemViewItemText, opt, widget).adjusted(margin, 0, -margin, 0)
        text, opt.text = opt.text, ""
        style.drawControl(QStyle.CE_ItemViewItem, opt, painter, widget)  # background, selection, icon
        painter.save()
        painter.setPen(brush.color())
        painter.setFont(opt.font)
        lines = [opt.fontMetrics.elidedText(line, Qt.ElideRight, text_rect.width()) for line in text.split("\n")]
        painter.drawText(text_rect, int(opt.displayAlignment), "\n".join(lines))
        painter.restore()


class BarDelegate(ForegroundDelegate):
    """Draws a cell's fraction (BAR_ROLE) as a bar behind its text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Any) -> None:
        frac = index.data(BAR_ROLE)
        if isinstance(frac, float):
            r: QRect = option.rect.adjusted(2, 3, -2, -3)
            painter.save()
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(128, 128, 128, 50))
            painter.drawRect(r)
            colour = QColor("#4f9be8") if frac < 0.85 else QColor("#e8804f")
            colour.setAlpha(150)
            painter.setBrush(colour)
            painter.drawRect(QRect(r.left(), r.top(), int(r.width() * max(0.0, min(frac, 1.0))), r.height()))
            painter.restore()
        super().paint(painter, option, index)


class ServersTable(QTableWidget):
    """One row per server; ``server_clicked(id)`` when a row is chosen (the charts highlight it)."""

    server_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setItemDelegate(ForegroundDelegate(self))
        delegate = BarDelegate(self)
        for c in BAR_COLUMNS:
            self.setItemDelegateForColumn(c, delegate)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        readable_header(self, WIDTHS, HEADER_TIPS)
        self.snaps: dict[str, ServerSnapshot] = {}
        self._rows: dict[str, int] = {}
        self._dirty = True
        self._drew_running = False  # the last redraw showed a running job
        self.itemSelectionChanged.connect(self._selected)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(REFRESH_MS)

    def on_server(self, snap: ServerSnapshot) -> None:
        """Keep the latest snapshot; the row is redrawn on the next tick."""
        if snap.removed:
            self.snaps.pop(snap.id, None)
        else:
            self.snaps[snap.id] = snap
        self._dirty = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._dirty = True
        self.refresh()

    def selected_id(self) -> str | None:
        rows = {i.row() for i in self.selectedItems()}
        for sid, r in self._rows.items():
            if r in rows:
                return sid
        return None

    def _selected(self) -> None:
        sid = self.selected_id()
        if sid is not None:
            self.server_clicked.emit(sid)

    def refresh(self, force: bool = False) -> None:
        """Redraw every row from the latest snapshots and the jobs running now (not while the
        table is hidden, e.g. behind another dock's tab: it is redrawn when shown; always with
        ``force``, e.g. right before a screenshot)."""
        if not (force or self.isVisible()):
            return
        ctx = current_context(create=False)
        running = self._running_jobs(ctx.orch.jobs() if ctx is not None else [])
        # rows that showed a running job are drawn once more after it ended (no job any more)
        if not (force or self._dirty or running or self._drew_running or any(self._offline_rows())):
            return
        self._dirty = False
        self._drew_running = bool(running)
        ids = list(self.snaps)
        if ids != list(self._rows):
            chosen = self.selected_id()
            self.setRowCount(len(ids))
            self._rows = {sid: r for r, sid in enumerate(ids)}
            if chosen in self._rows:
                self.selectRow(self._rows[chosen])
        now = time.time()
        self.setUpdatesEnabled(False)
        try:
            for sid, r in self._rows.items():
                self._draw_row(r, self.snaps[sid], running.get(sid), now)
        finally:
            self.setUpdatesEnabled(True)

    def _offline_rows(self) -> list[str]:
        return [s.id for s in self.snaps.values() if s.health is Health.OFFLINE]  # "last seen" ticks on

    @staticmethod
    def _running_jobs(jobs: list[JobSnapshot]) -> dict[str, JobSnapshot]:
        out: dict[str, JobSnapshot] = {}
        for j in jobs:
            if j.server and j.state is JobState.RUNNING:
                out[j.server] = j
        return out

    def _cell(self, r: int, c: int, text: str, *, frac: float | None = None, tip: str | None = None,
              grey: bool = False) -> QTableWidgetItem:
        item = self.item(r, c)
        if item is None:
            item = QTableWidgetItem()
            self.setItem(r, c, item)
        if item.text() != text:
            item.setText(text)
        item.setData(BAR_ROLE, frac)
        item.setToolTip(tip or text)
        item.setForeground(QBrush(GREY) if grey else QBrush())
        return item

    def _draw_row(self, r: int, s: ServerSnapshot, job: JobSnapshot | None, now: float) -> None:
        up = s.health in (Health.ONLINE, Health.DEGRADED)
        grey = not up
        light_item = self._cell(r, C_LIGHT, "", tip=s.health.value)
        light_item.setIcon(light(health_colour(s.health)))
        name = s.id if s.name == s.id else f"{s.name} ({s.id})"
        self._cell(r, C_NAME, name, grey=grey)
        self._cell(r, C_URL, s.url, grey=grey)
        self._cell(r, C_TAGS, ", ".join(s.tags), grey=grey)
        self._cell(r, C_VERSION, s.comfyui_version or "-", grey=grey)
        if not up:
            # No stale figures: an offline row says when the server was last seen, and nothing else.
            # (in the wide current-job column: in the queue column it was cut to "last see…")
            if s.health is Health.OFFLINE:
                seen = "never seen" if s.last_heartbeat is None else f"last seen {ago(now - s.last_heartbeat)} ago"
            else:
                seen = s.health.value
            self._cell(r, C_OURS, f"{s.in_flight}" if s.in_flight else "-", grey=True)
            self._cell(r, C_JOB, seen, grey=True)
            for c in (C_QUEUE, C_VRAM, C_RAM, C_CPU, C_GPU, C_LAT):
                self._cell(r, c, "-", grey=True)
            self._cell(r, C_ERR, s.last_error or "", grey=True)
            return
        ours = max(s.queue_running + s.queue_pending - s.foreign_queued, 0)
        self._cell(r, C_OURS, f"{s.in_flight}/{s.max_concurrent}", tip="our jobs in flight / max_concurrent")
        self._cell(r, C_QUEUE, f"{ours} / {s.foreign_queued}", tip="in the server's queue: ours / others'")
        if job is not None:
            p = job.progress
            node = p.node or "?"
            text = f"{job.label} · node {node} {p.node_index}/{p.node_count}"
            self._cell(r, C_JOB, text, frac=float(p.fraction))
        else:
            self._cell(r, C_JOB, "idle" if s.in_flight == 0 else "waiting", frac=None)
        if s.is_cpu:
            self._cell(r, C_VRAM, "CPU server", tip="ComfyUI runs on the CPU: no VRAM (see RAM)")
        else:
            self._mem_cell(r, C_VRAM, s.vram_total, s.vram_free)
        self._mem_cell(r, C_RAM, s.ram_total, s.ram_free)
        for c, v in ((C_CPU, s.cpu_percent), (C_GPU, s.gpu_percent)):
            if v is None:
                self._cell(r, c, "-", tip="needs the ryven_comfy_agent on the server" if not s.agent else "no reading")
            else:
                self._cell(r, c, f"{v:.0f}%", frac=min(v / 100.0, 1.0))
        self._cell(r, C_LAT, "-" if s.latency_ms is None else f"{s.latency_ms:.0f} ms")
        self._cell(r, C_ERR, s.last_error or "")

    def _mem_cell(self, r: int, c: int, total: int | None, free: int | None) -> None:
        if total is None or free is None or total <= 0:
            self._cell(r, c, "-")
            return
        used = total - free
        self._cell(r, c, f"{gib(used)}/{gib(total)} GiB", frac=used / total)
