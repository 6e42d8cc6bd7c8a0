"""Local CPU servers as the default: used when no servers config is found.

Two ways to get them: ``servers_file_or_local`` waits for them (the terminal commands), and
``LocalStart`` installs and starts them on a background thread with progress (the editor opens
its window at once and adds the servers when they are ready).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .discovery import find_servers_file, local_servers_file
from .local.instances import local_servers_status, start_local_servers
from .local.processes import read_tail as read_tail  # re-exported: the first-run tab shows the install log
from .local.provision import STEPS, InstallStep, StepCallback, ensure_comfyui, install_log_path, is_installed

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
#: installs (if needed) and starts ``count`` local servers, reporting lines and install steps;
#: returns their servers config file (the default is ``install_and_start``; tests pass a fake)
Starter = Callable[[int, Progress, StepCallback], Path]
#: the step after the install's (``install_and_start`` announces it when the servers start)
SERVERS_STEP = InstallStep(len(STEPS) + 1, len(STEPS) + 1, "starting the local ComfyUI servers", 0.0)
#: share of the first run's time taken by the install (the rest: starting the servers)
INSTALL_SHARE = 0.75


def local_servers_running(count: int) -> bool:
    """True when at least ``count`` recorded local instances are ours and answer (nothing is started)."""
    rows = local_servers_status()
    return sum(1 for r in rows if r["ready"]) >= count and local_servers_file().is_file()


def configured_servers_file(explicit: str | None, count: int, progress: Progress) -> Path | None:
    """The servers config to use without starting anything: ``explicit`` (always, even the local
    servers' own file), else a configured one, else the ``count`` local CPU servers already running;
    None when local servers must be started (``progress`` is told which happened)."""
    if explicit:
        progress(f"servers: {explicit}")
        return Path(explicit)
    servers_file = find_servers_file()
    if servers_file is not None and servers_file != local_servers_file():
        progress(f"servers: {servers_file}")
        return servers_file
    if local_servers_running(count):
        progress(f"no servers configured: using the {count} local CPU ComfyUI servers already running "
                 f"({local_servers_file()})")
        return local_servers_file()
    return None


def install_and_start(count: int, progress: Progress, on_step: StepCallback | None = None) -> Path:
    """Install ComfyUI if needed, start ``count`` local CPU servers (reusing those running) and
    return their servers config file (raises ProvisionError naming the log on failure)."""
    install = ensure_comfyui(progress=progress, on_step=on_step)
    if on_step is not None:
        on_step(SERVERS_STEP)
    started = start_local_servers(count, install=install, progress=progress)
    progress("local servers: " + ", ".join(s.url for s in started))
    progress("stop them with: ryven-comfy local-servers down")
    return local_servers_file()


def servers_file_or_local(explicit: str | None, count: int, progress: Progress) -> Path:
    """The servers config to use: ``explicit`` (always, even the local servers' own file), else a
    configured one; with none (or only the local servers' own), use the local CPU servers: those
    already running as they are, else start ``count`` of them and return their config.

    ``progress`` receives one line per step, saying which of these happened (installing takes
    minutes the first time).
    """
    found = configured_servers_file(explicit, count, progress)
    if found is not None:
        return found
    progress(f"no servers configured: starting {count} local CPU ComfyUI servers "
             "(the first time installs ComfyUI, a few minutes)…")
    return install_and_start(count, progress)


@dataclass(frozen=True)
class StartProgress:
    """Where a background start of the local servers is: step ``step`` of ``total`` (1-based; 0
    before the first), its title, an estimated ``percent`` (0-100, from the steps' usual shares),
    the latest progress line and the log to look at (the install log, None when nothing installs)."""

    step: int
    total: int
    title: str
    percent: float
    line: str
    log_path: Path | None
    finished: bool = False
    error: str | None = None

    def summary(self) -> str:
        """One line for a message: ``step k/n: title (p %)``, or how it ended."""
        if self.error is not None:
            return f"failed: {self.error}"
        if self.finished:
            return "ready"
        return f"step {self.step}/{self.total}: {self.title} ({self.percent:.0f} %)"


class LocalStart:
    """Installs ComfyUI (if needed) and starts ``count`` local servers on a background thread.

    ``on_progress(StartProgress)`` is called on that thread for every step and line, and last with
    ``finished=True`` (``on_ready(path)`` follows with the servers config) or with ``error`` set
    (``on_failed(exc)`` follows). Hand callbacks to a poster to get them on another thread.
    """

    def __init__(self, count: int, on_progress: Callable[[StartProgress], None],
                 on_ready: Callable[[Path], None], on_failed: Callable[[BaseException], None],
                 starter: Starter | None = None) -> None:
        self.count = count
        self._on_progress, self._on_ready, self._on_failed = on_progress, on_ready, on_failed
        self._starter = starter or install_and_start
        installing = not is_installed()
        self._log_path = install_log_path() if installing else None
        # the install's steps (when it is needed), then one step: starting the servers
        self._steps = [(t, w * INSTALL_SHARE) for t, w in STEPS] if installing else []
        self._steps.append((f"starting {count} local ComfyUI servers", 1.0 - INSTALL_SHARE if installing else 1.0))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.state = StartProgress(0, len(self._steps), "waiting to start", 0.0, "", self._log_path)

    def start(self) -> LocalStart:
        """Start the background thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="local-servers-start", daemon=True)
            self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (tests, and a terminal caller)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _publish(self, **changes: object) -> None:
        with self._lock:
            self.state = dataclasses.replace(self.state, **changes)  # type: ignore[arg-type]
            state = self.state
        self._on_progress(state)

    def _enter(self, index: int) -> None:
        title = self._steps[index][0]
        done = sum(w for _, w in self._steps[:index])
        self._publish(step=index + 1, title=title, percent=100.0 * done)

    def _line(self, line: str) -> None:
        log.info("%s", line)
        self._publish(line=line)

    def _install_step(self, step: InstallStep) -> None:
        if step.index > len(STEPS):  # SERVERS_STEP: always our last step
            self._enter(len(self._steps) - 1)
        elif len(self._steps) > 1:  # an install we expected (one found done needs none)
            self._enter(min(step.index - 1, len(self._steps) - 2))

    def _main(self) -> None:
        try:
            path = self._starter(self.count, self._line, self._install_step)
        except Exception as exc:  # any failure is shown to the user, with the log to read
            where = f" (log: {self._log_path})" if self._log_path and str(self._log_path) not in str(exc) else ""
            log.error("local servers did not start: %s", exc)
            self._publish(error=f"{exc}{where}")
            self._on_failed(exc)
            return
        self._publish(finished=True, percent=100.0, step=len(self._steps), line="local servers ready")
        self._on_ready(path)

