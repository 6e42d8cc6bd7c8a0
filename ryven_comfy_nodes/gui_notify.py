"""Notifications: what happened, in the status bar and in a timestamped list (a dock), and in the log.

Server offline / back online (from the context's server snapshots), a job retried on another
server, a job failed (from the backend's job events through the public ``subscribe``).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QPainter
from qtpy.QtWidgets import QDockWidget, QListWidget, QListWidgetItem

from comfy_backend import Health, JobEvent, JobState, ServerSnapshot

from .gui_servers import ForegroundDelegate

log = logging.getLogger(__name__)
_COLOURS = {"error": "#f87171", "warning": "#fbbf24", "info": "#d1d5db", "ok": "#4ade80"}
MAX_ITEMS = 500
#: the list on the editor's dark theme (whose list background came out white, the light texts unreadable)
LIST_STYLE = ("QListWidget{background:#1e242a;border:none;padding:2px}"
              "QListWidget::item{padding:2px 4px;min-height:0}")
EMPTY_TEXT = ("No notifications yet. A server going offline or coming back, a job retried on another server "
              "and a failure are listed here, newest first, with the time.")


class Notifications(QListWidget):
    """The list of notifications, newest first; ``notify`` also shows the line in the status bar."""

    def __init__(self, editor: Any) -> None:
        super().__init__()
        self.editor = editor
        self.entries: list[tuple[float, str, str]] = []  # (time, level, text)
        self._health: dict[str, Health] = {}
        self._attempts: dict[str, int] = {}
        self._failed: set[str] = set()
        self.setWordWrap(True)
        self.setStyleSheet(LIST_STYLE)
        self.setItemDelegate(ForegroundDelegate(self))  # each line in its level's colour, whatever the theme says

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if self.count() == 0:  # an empty list says what will appear in it
            p = QPainter(self.viewport())
            p.setPen(QColor("#9ca3af"))
            p.drawText(self.viewport().rect().adjusted(12, 8, -12, -8), int(Qt.AlignCenter | Qt.TextWordWrap),
                       EMPTY_TEXT)
            p.end()

    def notify(self, level: str, text: str) -> None:
        """Add a notification (level: error, warning, info, ok)."""
        now = time.time()
        self.entries.append((now, level, text))
        item = QListWidgetItem(f"{time.strftime('%H:%M:%S', time.localtime(now))}  {text}")
        item.setForeground(QColor(_COLOURS.get(level, "#d1d5db")))
        item.setToolTip(text)
        self.insertItem(0, item)
        while self.count() > MAX_ITEMS:
            self.takeItem(self.count() - 1)
        self.editor.statusBar().showMessage(text, 10_000)
        (log.error if level == "error" else log.warning if level == "warning" else log.info)("%s", text)

    def on_server(self, snap: ServerSnapshot) -> None:
        before = self._health.get(snap.id)
        self._health[snap.id] = snap.health
        if before is None or before == snap.health:
            return
        if snap.health is Health.OFFLINE:
            why = f": {snap.last_error}" if getattr(snap, "last_error", None) else ""
            self.notify("warning", f"server {snap.id} went offline{why}")
        elif snap.health is Health.ONLINE and before in (Health.OFFLINE, Health.DEGRADED):
            self.notify("ok", f"server {snap.id} is back online")
        elif snap.health is Health.DEGRADED:
            self.notify("warning", f"server {snap.id} is degraded")

    def on_event(self, event: object) -> None:
        if not isinstance(event, JobEvent):
            return
        job = event.job
        n = len(job.attempts)
        if n > self._attempts.get(job.id, 1) and n >= 2:
            before, after = job.attempts[-2], job.attempts[-1]
            why = f" ({before.error.message})" if before.error is not None and before.error.message else ""
            self.notify("warning", f"{job.label}: retried on {after.server} after {before.server}{why}")
        self._attempts[job.id] = max(n, self._attempts.get(job.id, 1))
        if job.state is JobState.FAILED and job.id not in self._failed:
            self._failed.add(job.id)
            msg = job.error.message if job.error is not None else "failed"
            self.notify("error", f"{job.label} failed on {job.server or '?'}: {msg}")
        if job.state.final:
            self._attempts.pop(job.id, None)


def install(editor: Any, ctx: Any) -> QDockWidget:
    """The "Notifications" dock (bottom area, tabbed with the others) fed by ``ctx``'s events."""
    panel = Notifications(editor)
    dock = QDockWidget("Notifications", editor)
    dock.setObjectName("ryven_comfy_notifications_dock")
    dock.setWidget(panel)
    editor.addDockWidget(Qt.BottomDockWidgetArea, dock)
    editor.ui.menuDocks.addAction(dock.toggleViewAction())
    if ctx is not None:
        for snap in ctx.servers.values():
            panel._health[snap.id] = snap.health
        ctx.server_changed.sub(panel.on_server)
        unsub = ctx.orch.subscribe(panel.on_event, dispatcher=ctx.post)
        editor._ryven_comfy["notify_unsub"] = unsub
    editor._ryven_comfy["notifications"] = panel
    return dock
