"""Terminal progress for a batch of jobs: live bars on a TTY, one line per change otherwise."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from ..models import JobSnapshot, JobState
from ..safe_text import sanitize_line

_BAR = 24


def _bar(fraction: float) -> str:
    filled = round(fraction * _BAR)
    return "█" * filled + "░" * (_BAR - filled)


def describe(job: JobSnapshot) -> str:
    """One progress line for a job; server-given text in it is sanitised (one line, cut to length)."""
    return sanitize_line(_describe(job), max_chars=500)


def _describe(job: JobSnapshot) -> str:
    p = job.progress
    where = job.server or "-"
    if job.state is JobState.RUNNING:
        step = f" step {p.value:.0f}/{p.max:.0f}" if p.max else ""
        node = f" node {p.node_index}/{p.node_count}" if p.node_count else ""
        return f"{job.label:<14} {where:<10} running  {node}{step} {_bar(p.fraction)} {p.fraction:4.0%}"
    if job.state.final:
        secs = f" {job.seconds:.1f}s" if job.seconds is not None else ""
        extra = f" after {len(job.attempts)} attempts" if len(job.attempts) > 1 else ""
        err = f": {job.error.message}" if job.error and job.state is not JobState.SUCCEEDED else ""
        return f"{job.label:<14} {where:<10} {job.state.value}{secs}{extra}{err}"
    return f"{job.label:<14} {where:<10} {job.state.value}"


class ProgressDisplay:
    """Redraws a block of lines in place on a terminal; logs state changes elsewhere."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.15) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self._drawn = 0
        self._last = 0.0
        self._states: dict[str, tuple[JobState, str | None]] = {}

    def update(self, jobs: list[JobSnapshot], force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if not force and now - self._last < self.interval:
                return
            self._last = now
            lines = [describe(j) for j in jobs[-20:]]
            done = sum(1 for j in jobs if j.state.final)
            lines.append(f"{done}/{len(jobs)} done")
            out = ("\x1b[F" * self._drawn) + "".join(f"\x1b[2K{line}\n" for line in lines)
            self.stream.write(out)
            self.stream.flush()
            self._drawn = len(lines)
            return
        for j in jobs:
            key = (j.state, j.server)
            if self._states.get(j.id) != key:
                self._states[j.id] = key
                self.stream.write(describe(j) + "\n")
        self.stream.flush()
