"""Per-server metrics kept in fixed-size ring buffers, and the metrics report of a run.

A sample is taken at every health check (queue, latency, memory, CPU/GPU use when the
agent is there, our in-flight count, the job figures at that moment); completions and
run times are recorded per job. Everything is bounded, so a pool can run for days
without growing. Figures a server reports are checked by :func:`plausible` first: a
negative or absurd one becomes ``None`` with one log line per server and field.
"""
from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

log = logging.getLogger(__name__)

#: samples kept per server: at the default 2 s health interval, a bit over an hour
HISTORY = 2000
_MAX_BYTES = 2**50          # 1 PiB: no machine has more RAM or VRAM than this
_MAX_PERCENT = 100.0 * 1024  # psutil may report > 100 % summed over cores; beyond this it is garbage
_MAX_TEMPERATURE = 200.0


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
    ram_total: int | None = None
    cpu_percent: float | None = None     # agent only
    gpu_percent: float | None = None     # agent only (NVML)
    temperature_c: float | None = None   # agent only: the GPU's, else the CPU's
    jobs_per_minute: float = 0.0         # at the time of the sample
    mean_run_seconds: float | None = None
    queue_wait_seconds: float | None = None  # mean submit → start of recent jobs
    online: bool = True

    @property
    def vram_used(self) -> int | None:
        return None if self.vram_free is None or self.vram_total is None else max(self.vram_total - self.vram_free, 0)

    @property
    def ram_used(self) -> int | None:
        return None if self.ram_free is None or self.ram_total is None else max(self.ram_total - self.ram_free, 0)

    @property
    def queue_ours(self) -> int:
        """Our prompts in the server's queue (running or waiting)."""
        return max(self.queue_running + self.queue_pending - self.foreign, 0)


#: the numeric Sample fields and derived figures ``series`` can give
SERIES_FIELDS = (*tuple(f.name for f in fields(Sample) if f.name not in ("t", "online")), "vram_used", "ram_used", "queue_ours")


class ServerMetrics:
    """Ring buffers and counters for one server."""

    def __init__(self, history: int = HISTORY, window_s: float = 300.0, server_id: str = "?") -> None:
        self.server_id = server_id
        self.samples: deque[Sample] = deque(maxlen=history)
        self.completions: deque[float] = deque(maxlen=4096)
        self.run_seconds: deque[float] = deque(maxlen=64)
        self.queue_wait_seconds: deque[float] = deque(maxlen=64)
        self.window_s = window_s
        self.completed = 0
        self.failed = 0
        self.retried = 0
        self.last_latency_ms: float | None = None
        self.last_heartbeat: float | None = None
        self._warned: set[str] = set()  # figures already reported as implausible (one line each)

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

    def record_retry(self) -> None:
        """A job that failed here went back to the queue (to run elsewhere)."""
        self.retried += 1

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

    def mean_queue_wait(self) -> float | None:
        return sum(self.queue_wait_seconds) / len(self.queue_wait_seconds) if self.queue_wait_seconds else None

    def series(self, field: str, since: float | None = None) -> list[tuple[float, float | None]]:
        """A time series of one Sample field (or ``vram_used`` / ``ram_used`` / ``queue_ours``), for plotting."""
        if since is None:
            return [(s.t, getattr(s, field)) for s in self.samples]
        out = []
        for s in reversed(self.samples):  # newest first: a "what is new" read costs only the new samples
            if s.t <= since:
                break
            out.append((s.t, getattr(s, field)))
        out.reverse()
        return out

    def plausible(self, name: str, value: Any, kind: str) -> float | None:
        """``value`` as a number when it is one and plausible for ``kind`` (bytes / percent / celsius),
        else None — logged once per server and figure, so a broken server does not flood the log."""
        if value is None:
            return None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            top = {"bytes": _MAX_BYTES, "percent": _MAX_PERCENT, "celsius": _MAX_TEMPERATURE}[kind]
            ok = (0 <= value <= top) if kind != "celsius" else (-60 <= value <= top)
        if ok:
            return float(value) if kind != "bytes" else int(value)
        if name not in self._warned:
            self._warned.add(name)
            log.warning("server %s: ignoring implausible %s = %.80r", self.server_id, name, value)
        return None

    def report(self) -> dict[str, Any]:
        """This server's part of the metrics report (see :func:`metrics_report`)."""
        return {
            "samples": [sample_dict(s) for s in self.samples],
            "jobs": {"completed": self.completed, "failed": self.failed, "retried": self.retried,
                     "per_minute": round(self.jobs_per_minute(), 3), "mean_seconds": self.mean_run_seconds()},
        }


def sample_dict(s: Sample) -> dict[str, Any]:
    """One sample in the report's shape (None where a figure is unknown)."""
    return {"t": s.t, "queue_ours": s.queue_ours, "queue_others": s.foreign, "in_flight": s.in_flight,
            "latency_ms": s.latency_ms, "vram_used": s.vram_used, "vram_total": s.vram_total,
            "ram_used": s.ram_used, "ram_total": s.ram_total, "cpu_percent": s.cpu_percent,
            "gpu_percent": s.gpu_percent}


def metrics_report(by_server: dict[str, ServerMetrics], since: float | None = None) -> dict[str, Any]:
    """``{"servers": {id: {"samples": [...], "jobs": {...}}}}``: what ``--metrics FILE`` writes
    and the editor exports; samples older than ``since`` (wall time) are left out."""
    out: dict[str, Any] = {}
    for sid, m in by_server.items():
        part = m.report()
        if since is not None:
            part["samples"] = [d for d in part["samples"] if d["t"] >= since]
        out[sid] = part
    return {"servers": out}
