"""The jobs dock: every job since the editor started, its attempts, times and outputs.

Rows are refreshed by a timer from the core's job snapshots (immutable: a row is redrawn
only when its snapshot object changed). Cancel and retry act on the chosen job; a
double-click selects the node that started it on the canvas.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comfy_backend import AttemptOutcome, JobSnapshot, JobState

from .context import current_context
from .gui_servers import BUTTON_STYLE, readable_header

COLUMNS = ("node", "state", "server", "attempts", "queued s", "running s", "total s", "outputs", "error")
HEADER_TIPS = ("the node (or batch label) that started the job", "the job's state", "the server it ran on (last)",
               "every try: server, how it ended and why", "seconds waiting before the last try started",
               "seconds running on the server", "seconds from submit to end", "files produced (hover a cell for names)",
               "why the job failed")
WIDTHS = {0: 140, 1: 80, 2: 70, 3: 320, 4: 60, 5: 60, 6: 50, 7: 50}
ID_ROLE = Qt.UserRole + 2
REFRESH_MS = 700
ALL = "(all)"


def attempt_text(job: JobSnapshot) -> str:
    """``local1: retried (server went offline) → local2: succeeded``."""
    parts = []
    for a in job.attempts:
        why = ""
        if a.outcome is not AttemptOutcome.SUCCEEDED and a.error is not None:
            why = f" ({a.error.message})"
        parts.append(f"{a.server}: {a.outcome.value}{why}")
    return " → ".join(parts) or "-"


def job_times(job: JobSnapshot, now: float) -> tuple[float | None, float | None, float]:
    """(queued, running, total) seconds: waiting before the last attempt's start, running since."""
    end = job.finished or now
    total = end - job.created
    last = job.attempts[-1] if job.attempts else None
    if last is None:
        return total, None, total
    wait = last.queue_wait or 0.0
    start = last.started + wait
    running = max((last.ended or end) - start, 0.0) if job.state is not JobState.SUBMITTED else None
    return max(start - job.created, 0.0), running, total


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


class JobsPanel(QWidget):
    """A table of jobs with filters by server, node and state; cancel, retry, select node."""

    def __init__(self, parent: QWidget | None = None, *, select_node: Callable[[Any], None] | None = None) -> None:
        super().__init__(parent)
        self.select_node = select_node
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        self.server_box = QComboBox()
        self.server_box.addItem(ALL)
        self.state_box = QComboBox()
        self.state_box.addItems([ALL, *(s.value for s in JobState)])
        self.node_filter = QLineEdit()
        self.node_filter.setPlaceholderText("node…")
        for w in (self.server_box, self.state_box):
            w.currentIndexChanged.connect(lambda _: self.refresh(force=True))
        self.node_filter.textChanged.connect(lambda _: self.refresh(force=True))
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel_selected)
        self.retry_btn = QPushButton("Retry")
        self.retry_btn.clicked.connect(self.retry_selected)
        self.cancel_btn.setStyleSheet(BUTTON_STYLE)
        self.retry_btn.setStyleSheet(BUTTON_STYLE)
        for part in (QLabel("Server"), self.server_box, QLabel("State"), self.state_box, QLabel("Node"),
                     self.node_filter, self.cancel_btn, self.retry_btn):
            bar.addWidget(part)
        lay.addLayout(bar)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        readable_header(self.table, WIDTHS, HEADER_TIPS)
        self.table.cellDoubleClicked.connect(lambda r, _c: self.select_job_node(r))
        lay.addWidget(self.table, 1)
        self._shown: list[JobSnapshot] = []
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(REFRESH_MS)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()

    def _matches(self, j: JobSnapshot) -> bool:
        server, state, node = self.server_box.currentText(), self.state_box.currentText(), self.node_filter.text()
        if server != ALL and j.server != server and not any(a.server == server for a in j.attempts):
            return False
        if state != ALL and j.state.value != state:
            return False
        return not node or node.lower() in j.label.lower()

    def refresh(self, force: bool = False) -> None:
        """Redraw the rows that changed (every row with ``force``); a hidden panel (behind another
        dock's tab) is redrawn when shown, not on every tick."""
        ctx = current_context(create=False)
        if ctx is None or not (force or self.isVisible()):
            return
        jobs = ctx.orch.jobs()
        for sid in sorted({a.server for j in jobs for a in j.attempts}):
            if self.server_box.findText(sid) < 0:
                self.server_box.addItem(sid)
        shown = [j for j in reversed(jobs) if self._matches(j)]  # newest first
        busy = any(not j.state.final for j in shown)
        if not force and not busy and len(shown) == len(self._shown) and all(
                a is b for a, b in zip(shown, self._shown)):
            return
        now = time.time()
        self.table.setUpdatesEnabled(False)
        try:
            self.table.setRowCount(len(shown))
            for r, j in enumerate(shown):
                if not force and r < len(self._shown) and self._shown[r] is j and j.state.final:
                    continue
                self._draw(r, j, now)
        finally:
            self.table.setUpdatesEnabled(True)
        self._shown = shown

    def _draw(self, r: int, j: JobSnapshot, now: float) -> None:
        queued, running, total = job_times(j, now)
        cells = (j.label, j.state.value, j.server or "-", attempt_text(j), _fmt(queued), _fmt(running), _fmt(total),
                 str(len(j.outputs)), j.error.message if j.error else "")
        for c, text in enumerate(cells):
            item = self.table.item(r, c)
            if item is None:
                item = QTableWidgetItem()
                self.table.setItem(r, c, item)
            item.setText(text)
            item.setToolTip(text if c != 7 else "\n".join(o.filename for o in j.outputs) or "no outputs")
            item.setData(ID_ROLE, j.id)

    def selected_job(self) -> JobSnapshot | None:
        rows = sorted({i.row() for i in self.table.selectedItems()})
        return self._shown[rows[0]] if rows and rows[0] < len(self._shown) else None

    def cancel_selected(self) -> None:
        ctx, job = current_context(create=False), self.selected_job()
        if ctx is not None and job is not None:
            ctx.orch.cancel(job.id)

    def _node_of(self, job: JobSnapshot) -> Any:
        ctx = current_context(create=False)
        return None if ctx is None else ctx.runner.job_nodes.get(job.id)

    def retry_selected(self) -> None:
        """Run the job's node again (with whatever upstream it needs)."""
        ctx, job = current_context(create=False), self.selected_job()
        node = self._node_of(job) if job is not None else None
        if ctx is not None and node is not None:
            ctx.runner.run_nodes([node])

    def select_job_node(self, row: int) -> None:
        if row >= len(self._shown):
            return
        node = self._node_of(self._shown[row])
        if node is not None and self.select_node is not None:
            self.select_node(node)
