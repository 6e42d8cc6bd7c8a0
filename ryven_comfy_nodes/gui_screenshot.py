"""Screenshot mode (docs, tests): open, fit, optionally run the flow, wait for its end, save a PNG
of the whole window, quit with the flow's status (0 all done, 1 otherwise)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import QTimer

log = logging.getLogger(__name__)
#: how often the run's end is checked (a timer on the GUI thread: nothing blocks)
POLL_MS = 200


def parse_size(text: str) -> tuple[int, int]:
    """``"1600x1000"`` → (1600, 1000); ValueError for anything else."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 200 or int(h) < 200:
        raise ValueError(f"--size must look like 1600x1000 (got {text!r})")
    return int(w), int(h)


class ScreenshotRun:
    """Drives the editor through the screenshot steps; ``done(code)`` is called at the end."""

    def __init__(self, editor: Any, out: Path | None, *, run: bool, done: Callable[[int], None],
                 timeout: float = 900.0, settle_ms: int = 800) -> None:
        self.editor, self.out, self.run_flow, self.done = editor, (Path(out) if out else None), run, done
        self.deadline = time.monotonic() + timeout
        self.settle_ms = settle_ms
        self.flow_run: Any = None
        self.code: int | None = None
        self.timer = QTimer(editor)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        from . import gui_layout

        gui_layout.fit_flow(self.editor)
        if self.run_flow:
            from .gui_editor import run_current_flow

            self.flow_run = run_current_flow(self.editor)
            if self.flow_run is None:
                self._finish(1)
                return
        self.timer.start(POLL_MS)

    def _thumbs_loaded(self) -> bool:
        for flow in self.editor.core_session.flows:
            for n in flow.nodes:
                mw = getattr(getattr(n, "gui", None), "item", None)
                strip = getattr(getattr(mw, "main_widget", None), "thumbs", None)
                if strip is not None and not all(t.loaded for t in strip.thumbs):
                    return False
        return True

    def _tick(self) -> None:
        timed_out = time.monotonic() > self.deadline
        if self.flow_run is not None and not self.flow_run.finished and not timed_out:
            return
        if not self._thumbs_loaded() and not timed_out:
            return
        self.timer.stop()
        if timed_out:
            log.warning("screenshot: gave up waiting after the timeout")
        ok = self.flow_run is None or (self.flow_run.finished and self.flow_run.ok)
        QTimer.singleShot(self.settle_ms, lambda: self._finish(0 if ok and not timed_out else 1))

    def _refresh_docks(self) -> None:
        """Redraw the servers and jobs docks from the core's state now: their timers lag the flow's
        end, and the picture showed a job still in flight."""
        from .gui_jobs import JobsPanel
        from .gui_servers import ServersTable

        find = getattr(self.editor, "findChildren", None)
        if find is None:  # not a window (tests drive this with a stand-in)
            return
        for table in find(ServersTable):
            table.refresh(force=True)
        for jobs in find(JobsPanel):
            jobs.refresh(force=True)

    def _finish(self, code: int) -> None:
        from . import gui_layout

        self._refresh_docks()
        gui_layout.fit_flow(self.editor)
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.out is not None and not self.editor.grab().save(str(self.out)):
            log.error("could not write %s", self.out)
            code = 1
        self.code = code
        self.done(code)
