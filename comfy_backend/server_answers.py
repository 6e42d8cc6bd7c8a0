"""What a server's health check reads, checked: ``/system_stats``, ``/queue`` and the agent's answer.

A server that answers with JSON of the wrong shape is not trusted with its figures:
``BadAnswer`` marks it degraded; an agent's figures that make no sense become None.
"""
from __future__ import annotations

from typing import Any

from .metrics import ServerMetrics


class BadAnswer(ValueError):
    """A server answered a health check with JSON of the wrong shape."""


def checked_stats(stats: Any) -> dict[str, Any]:
    """``/system_stats`` as we use it, or BadAnswer: ``system`` a mapping, ``devices`` a list of mappings."""
    if not isinstance(stats, dict):
        raise BadAnswer(f"/system_stats is a {type(stats).__name__}, not an object")
    system = stats.get("system", {})
    devices = stats.get("devices", [])
    if not isinstance(system, dict):
        raise BadAnswer("/system_stats: 'system' is not an object")
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise BadAnswer("/system_stats: 'devices' is not a list of objects")
    for d in devices[:1]:
        for key in ("vram_total", "vram_free"):
            if d.get(key) is not None and (not isinstance(d[key], (int, float)) or isinstance(d[key], bool)):
                raise BadAnswer(f"/system_stats: devices[0].{key} is not a number")
    for key in ("ram_total", "ram_free"):
        if system.get(key) is not None and (not isinstance(system[key], (int, float)) or isinstance(system[key], bool)):
            raise BadAnswer(f"/system_stats: system.{key} is not a number")
    if system.get("comfyui_version") is not None and not isinstance(system["comfyui_version"], str):
        raise BadAnswer("/system_stats: system.comfyui_version is not a string")
    return stats


def checked_queue(queue: Any) -> tuple[list[Any], list[Any]]:
    """``/queue`` as (running, pending) item lists, or BadAnswer."""
    if not isinstance(queue, dict):
        raise BadAnswer(f"/queue is a {type(queue).__name__}, not an object")
    out = []
    for key in ("queue_running", "queue_pending"):
        items = queue.get(key) or []
        if not isinstance(items, list):
            raise BadAnswer(f"/queue: '{key}' is not a list")
        out.append(items)
    return out[0], out[1]


def checked_agent(m: ServerMetrics, raw: Any) -> dict[str, float | None]:
    """The monitoring agent's reading: its plausible figures (the first GPU's), None for the rest."""
    if not isinstance(raw, dict):
        m.plausible("agent answer", f"a {type(raw).__name__}, not an object", "percent")
        return {}
    gpus = raw.get("gpus")
    gpu = gpus[0] if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict) else {}
    temp = m.plausible("gpu temperature", gpu.get("temperature_c"), "celsius") if gpu else None
    if temp is None:
        temp = m.plausible("cpu temperature", raw.get("cpu_temperature_c"), "celsius")
    return {
        "cpu_percent": m.plausible("cpu_percent", raw.get("cpu_percent"), "percent"),
        "gpu_percent": m.plausible("gpu_percent", gpu.get("gpu_percent"), "percent") if gpu else None,
        "temperature_c": temp,
        "ram_used": m.plausible("agent ram_used", raw.get("ram_used"), "bytes"),
        "ram_total": m.plausible("agent ram_total", raw.get("ram_total"), "bytes"),
        "vram_used": m.plausible("agent vram_used", gpu.get("vram_used"), "bytes") if gpu else None,
        "vram_total": m.plausible("agent vram_total", gpu.get("vram_total"), "bytes") if gpu else None,
    }
