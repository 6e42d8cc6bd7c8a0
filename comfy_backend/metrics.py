"""Per-server metrics kept in fixed-size ring buffers.

A sample is taken at every health check (queue, latency, memory, our in-flight
count); completions and run times are recorded per job. Everything is bounded,
so a pool can run for days without growing.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    t: float                 # wall time
    latency_ms: float | None
    queue_running: int
    queue_pending: int
    foreign: int
    in_flight: int
    vram_free: int | None
    vram_total: int | None
    ram_free: int | None


class ServerMetrics:
    """Ring buffers and counters for one server."""

    def __init__(self, history: int = 900, window_s: float = 300.0) -> None:
        self.samples: deque[Sample] = deque(maxlen=history)
        self.completions: deque[float] = deque(maxlen=4096)
        self.run_seconds: deque[float] = deque(maxlen=64)
        self.queue_wait_seconds: deque[float] = deque(maxlen=64)
        self.window_s = window_s
        self.completed = 0
        self.failed = 0
        self.last_latency_ms: float | None = None
        self.last_heartbeat: float | None = None

    def add_sample(self, sample: Sample) -> None:
        self.samples.append(sample)
        if sample.latency_ms is not None:
            self.last_latency_ms = sample.latency_ms
            self.last_heartbeat = sample.t

    def record_success(self, run_seconds: float | None, queue_wait: float | None, now: float | None = None) -> None:
        self.completed += 1
        self.completions.append(now if now is not None else time.time())
        if run_seconds is not None and run_seconds >= 0:
            self.run_seconds.append(run_seconds)
        if queue_wait is not None and queue_wait >= 0:
            self.queue_wait_seconds.append(queue_wait)

    def record_failure(self) -> None:
        self.failed += 1

    def jobs_per_minute(self, now: float | None = None) -> float:
        now = now if now is not None else time.time()
        start = now - self.window_s
        n = sum(1 for t in self.completions if t >= start)
        if n == 0:
            return 0.0
        # Over a short history, divide by the time actually observed, not the whole window.
        first = next(t for t in self.completions if t >= start)
        span = max(now - first, 60.0) if n > 1 else self.window_s
        return n * 60.0 / min(span, self.window_s)

    def mean_run_seconds(self) -> float | None:
        return sum(self.run_seconds) / len(self.run_seconds) if self.run_seconds else None

    def series(self, field: str, since: float | None = None) -> list[tuple[float, float | None]]:
        """A time series of one Sample field, for plotting."""
        return [(s.t, getattr(s, field)) for s in self.samples if since is None or s.t >= since]
