"""First run: the window is already open while ComfyUI installs and the local servers start.

``install(editor, ctx, count)`` starts ``comfy_backend.LocalStart`` (its own thread; progress comes
back through the context's poster), shows a "Local servers" tab in the bottom dock area (step k/n,
percent, the install log's tail, or the error and the log to read) and adds the servers to the
running backend when they are ready, so the servers dock lists them. Runs asked for meanwhile are
refused with a message saying how far the start is (nothing is queued, nothing changes).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QFont
from qtpy.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from comfy_backend import (
    LocalStart,
    ServersConfig,
    Starter,
    StartProgress,
    WorkflowError,
    read_tail,
    resolve_servers_config,
)

from .context import AppContext

log = logging.getLogger(__name__)
TAIL_LINES = 8
TAIL_MS = 1000


class ServersStarting(WorkflowError):
    """A run was asked for before the local servers were ready (or after they failed to start)."""


class FirstRunPanel(QWidget):
    """Steps, percent and the log's tail of the local servers' start; the error when it failed."""

    def __init__(self, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(3)
        self.heading = QLabel(f"First run: installing ComfyUI (once) and starting {count} local CPU servers. "
                              "The editor is usable meanwhile; Run works once the servers are ready.")
        self.heading.setWordWrap(True)
        self.step = QLabel("starting…")
        self.step.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFormat("%p %")
        self.bar.setTextVisible(True)
        self.bar.setFixedWidth(240)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #f87171;")
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.hide()
        self.tail = QPlainTextEdit()
        self.tail.setReadOnly(True)
        self.tail.setLineWrapMode(QPlainTextEdit.NoWrap)
        font = QFont("monospace")
        font.setStyleHint(QFont.Monospace)
        font.setPointSize(max(7, font.pointSize() - 1))
        self.tail.setFont(font)
        self.tail.setMinimumHeight(48)
        self.tail.setToolTip("the last lines of the install log")
        row = QHBoxLayout()  # step and bar on one line: the log tail keeps the dock's height
        row.addWidget(self.step, 1)
        row.addWidget(self.bar)
        lay.addWidget(self.heading)
        lay.addLayout(row)
        lay.addWidget(self.error)
        lay.addWidget(self.tail, 1)
        self.state: StartProgress | None = None
        self.lines: list[str] = []  # progress lines, shown when there is no install log to tail

    def show_progress(self, state: StartProgress) -> None:
        """Show where the start is (on the GUI thread)."""
        self.state = state
        if state.line and (not self.lines or self.lines[-1] != state.line):
            self.lines = [*self.lines, state.line][-TAIL_LINES:]
        self.bar.setValue(round(state.percent))
        if state.error is not None:
            self.step.setText(f"step {state.step}/{state.total}: {state.title}: failed")
            log_hint = f"\nLog: {state.log_path}" if state.log_path and str(state.log_path) not in state.error else ""
            self.error.setText(f"The local servers did not start: {state.error}{log_hint}")
            self.error.show()
        elif state.finished:
            self.step.setText("local servers ready")
        elif state.step:
            self.step.setText(f"step {state.step}/{state.total}: {state.title} — {state.percent:.0f} %")
        self.refresh_tail()

    def refresh_tail(self) -> None:
        """The install log's last lines (pip/uv output), else the progress lines."""
        path = self.state.log_path if self.state is not None else None
        tail = read_tail(path, TAIL_LINES) if path is not None and path.exists() else []
        text = "\n".join(tail or self.lines)
        if text != self.tail.toPlainText():
            self.tail.setPlainText(text)
            self.tail.verticalScrollBar().setValue(self.tail.verticalScrollBar().maximum())


class FirstRun:
    """Starts the local servers in the background for an open editor and adds them when ready."""

    def __init__(self, editor: Any, ctx: AppContext, count: int, starter: Starter | None = None) -> None:
        self.editor, self.ctx, self.count = editor, ctx, count
        self.panel = FirstRunPanel(count)
        self.dock = QDockWidget("Local servers", editor)
        self.dock.setObjectName("ryven_comfy_firstrun_dock")
        self.dock.setWidget(self.panel)
        self.ready = False
        self.failed: str | None = None
        self._when_ready: list[Callable[[bool], None]] = []
        post = ctx.post
        self.start = LocalStart(count, lambda s: post(lambda: self._progress(s)),
                                lambda path: self._resolved(path), lambda exc: post(lambda: self._failed(exc)),
                                starter=starter)
        self.timer = QTimer(self.panel)
        self.timer.timeout.connect(self.panel.refresh_tail)

    def begin(self) -> FirstRun:
        """Show the tab and start the background thread."""
        editor = self.editor
        editor.addDockWidget(Qt.BottomDockWidgetArea, self.dock)
        servers_dock = getattr(editor, "_ryven_comfy", {}).get("dock")
        if servers_dock is not None:
            editor.tabifyDockWidget(servers_dock, self.dock)
        editor.ui.menuDocks.addAction(self.dock.toggleViewAction())
        QTimer.singleShot(0, self.dock.raise_)  # after the servers dock is raised on start
        self.ctx.runner.gate = self.gate
        self.timer.start(TAIL_MS)
        self.panel.show_progress(self.start.state)
        self.start.start()
        return self

    def when_ready(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` once the servers are added, ``callback(False)`` if they failed."""
        if self.ready or self.failed is not None:
            callback(self.ready)
        else:
            self._when_ready.append(callback)

    def gate(self) -> None:
        """Raise ServersStarting while the servers are not ready (the runner calls it before a run)."""
        if self.ready:
            return
        if self.failed is not None:
            raise ServersStarting(f"the local ComfyUI servers did not start: {self.failed}")
        raise ServersStarting(f"local ComfyUI servers are still starting: {self.start.state.summary()}; "
                              "run again when they are ready (see the 'Local servers' tab)")

    def message(self) -> str:
        """The status bar's text for the current state."""
        return f"local ComfyUI servers: {self.start.state.summary()}"

    # -- from the background thread ----------------------------------------------------------
    def _resolved(self, path: Path) -> None:
        """On the start thread: read the servers config there, then add it on the GUI thread."""
        try:
            config = resolve_servers_config(path)
        except Exception as exc:  # a broken servers file is a failed start, shown like the others
            err = exc
            self.ctx.post(lambda: self._failed(err))
            return
        self.ctx.post(lambda: self._ready(config))

    # -- on the GUI thread --------------------------------------------------------------------
    def _progress(self, state: StartProgress) -> None:
        self.panel.show_progress(state)
        if state.error is None and not state.finished:
            self.editor.statusBar().showMessage(self.message())

    def _ready(self, config: ServersConfig) -> None:
        for server in config.servers:
            self.ctx.orch.add_server(server)  # checked at once; the servers dock lists them
        self.ready = True
        self.timer.stop()
        ids = ", ".join(s.id for s in config.servers)
        self._notify("ok", f"local ComfyUI servers ready: {ids} (stop them with: ryven-comfy local-servers down)")
        servers_dock = getattr(self.editor, "_ryven_comfy", {}).get("dock")
        if servers_dock is not None:
            servers_dock.raise_()
        self._finish(True)

    def _failed(self, exc: BaseException) -> None:
        self.failed = str(exc)
        self.timer.stop()
        state = self.start.state
        if state.error is None:  # failed after the start itself ended (its servers file)
            state = dataclasses.replace(state, finished=False, error=self.failed)
        self.panel.show_progress(state)
        self.dock.raise_()
        self._notify("error", f"local ComfyUI servers did not start: {exc}")
        self._finish(False)

    def _notify(self, level: str, text: str) -> None:
        panel = getattr(self.editor, "_ryven_comfy", {}).get("notifications")
        if panel is not None:
            panel.notify(level, text)
        else:
            self.editor.statusBar().showMessage(text)

    def _finish(self, ok: bool) -> None:
        callbacks, self._when_ready = self._when_ready, []
        for cb in callbacks:
            cb(ok)


def install(editor: Any, ctx: AppContext, count: int, starter: Starter | None = None) -> FirstRun:
    """Start the local servers for ``editor`` in the background, with the "Local servers" tab."""
    first_run = FirstRun(editor, ctx, count, starter).begin()
    editor._ryven_comfy["first_run"] = first_run
    return first_run
