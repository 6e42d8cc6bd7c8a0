"""A server's figures, built from its ``ServerHandle``: the metrics sample of each health check,
and the ``ServerSnapshot`` the pool announces."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .metrics import Sample
from .models import Health, ServerSnapshot

if TYPE_CHECKING:
    from .server import ServerHandle


def device(handle: ServerHandle) -> dict[str, Any]:
    """The first device of the last ``/system_stats`` (empty when there is none)."""
    devices = handle.stats.get("devices") or []
    return devices[0] if devices and isinstance(devices[0], dict) else {}


def figures(handle: ServerHandle) -> dict[str, Any]:
    """Memory figures, checked: /system_stats first, the agent's reading where it has none."""
    dev = device(handle)
    sysd = handle.stats.get("system") or {}
    m, a = handle.metrics, handle.agent_stats
    vram_total = m.plausible("vram_total", dev.get("vram_total"), "bytes")
    vram_free = m.plausible("vram_free", dev.get("vram_free"), "bytes")
    ram_total = m.plausible("ram_total", sysd.get("ram_total"), "bytes")
    ram_free = m.plausible("ram_free", sysd.get("ram_free"), "bytes")
    a_vt, a_vu, a_rt, a_ru = a.get("vram_total"), a.get("vram_used"), a.get("ram_total"), a.get("ram_used")
    if vram_total is None and a_vt is not None and a_vu is not None:
        vram_total, vram_free = a_vt, max(a_vt - a_vu, 0)
    if ram_total is None and a_rt is not None and a_ru is not None:
        ram_total, ram_free = a_rt, max(a_rt - a_ru, 0)
    if vram_total is not None and vram_free is not None and vram_free > vram_total:
        vram_free = m.plausible("vram_free above vram_total", -1, "bytes")
    if ram_total is not None and ram_free is not None and ram_free > ram_total:
        ram_free = m.plausible("ram_free above ram_total", -1, "bytes")
    return {"vram_total": vram_total, "vram_free": vram_free, "ram_total": ram_total, "ram_free": ram_free}


def metrics_sample(handle: ServerHandle, latency: float | None) -> Sample:
    """One sample for the server's metrics: a health check's latency (None: it failed) and figures."""
    fig = figures(handle)
    a = handle.agent_stats if latency is not None else {}
    m = handle.metrics
    return Sample(
        t=time.time(),
        latency_ms=latency,
        queue_running=handle.queue_running,
        queue_pending=handle.queue_pending,
        foreign=handle.foreign,
        in_flight=len(handle.in_flight),
        vram_free=fig["vram_free"] if latency is not None else None,
        vram_total=fig["vram_total"] if latency is not None else None,
        ram_free=fig["ram_free"] if latency is not None else None,
        ram_total=fig["ram_total"] if latency is not None else None,
        cpu_percent=a.get("cpu_percent"),
        gpu_percent=a.get("gpu_percent"),
        temperature_c=a.get("temperature_c"),
        jobs_per_minute=m.jobs_per_minute(),
        mean_run_seconds=m.mean_run_seconds(),
        queue_wait_seconds=m.mean_queue_wait(),
        online=latency is not None,
    )


def server_snapshot(handle: ServerHandle, removed: bool = False) -> ServerSnapshot:
    """The server as the pool announces it now (``removed``: it has just been taken out)."""
    dev = device(handle)
    sysd = handle.stats.get("system") or {}
    fig = figures(handle)
    online = handle.health in (Health.ONLINE, Health.DEGRADED)
    a = handle.agent_stats if online else {}
    return ServerSnapshot(
        id=handle.id,
        name=handle.config.display_name,
        url=handle.config.url,
        tags=tuple(handle.config.tags),
        enabled=handle.config.enabled,
        health=handle.health,
        latency_ms=handle.metrics.last_latency_ms,
        last_heartbeat=handle.metrics.last_heartbeat,
        last_error=handle.last_error,
        in_flight=len(handle.in_flight),
        max_concurrent=handle.config.max_concurrent,
        queue_running=handle.queue_running,
        queue_pending=handle.queue_pending,
        foreign_queued=handle.foreign,
        vram_total=fig["vram_total"],
        vram_free=fig["vram_free"],
        ram_total=fig["ram_total"],
        ram_free=fig["ram_free"],
        device=dev.get("name") if isinstance(dev.get("name"), str) else None,
        comfyui_version=sysd.get("comfyui_version"),
        completed=handle.metrics.completed,
        failed=handle.metrics.failed,
        jobs_per_minute=handle.metrics.jobs_per_minute(),
        mean_run_seconds=handle.metrics.mean_run_seconds(),
        retried=handle.metrics.retried,
        mean_queue_wait=handle.metrics.mean_queue_wait(),
        is_cpu=dev.get("type") == "cpu",
        agent=bool(handle.agent),
        cpu_percent=a.get("cpu_percent"),
        gpu_percent=a.get("gpu_percent"),
        temperature_c=a.get("temperature_c"),
        removed=removed,
    )
