"""What the agent reports: CPU, RAM, GPU use, VRAM and temperature of this machine.

psutil ships with ComfyUI; NVML (``pynvml``) is used only when importable and a GPU is
there. Every figure that cannot be read is ``None``.
"""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("ryven_comfy_agent")
VERSION = 1
_nvml: Any = None       # the pynvml module once initialised, False when unavailable
_primed = False


def _nvml_module() -> Any:
    global _nvml
    if _nvml is None:
        try:
            import pynvml  # optional

            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception as exc:  # no library, no driver, no GPU: report no GPU figures
            log.debug("ryven_comfy_agent: NVML unavailable: %s", exc)
            _nvml = False
    return _nvml


def _gpus() -> list[dict[str, Any]]:
    nv = _nvml_module()
    if not nv:
        return []
    out = []
    try:
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            util = nv.nvmlDeviceGetUtilizationRates(h)
            try:
                temp = nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
            except Exception:  # some boards report no sensor
                temp = None
            name = nv.nvmlDeviceGetName(h)
            out.append({"index": i, "name": name.decode() if isinstance(name, bytes) else str(name),
                        "gpu_percent": float(util.gpu), "vram_used": int(mem.used), "vram_total": int(mem.total),
                        "temperature_c": None if temp is None else float(temp)})
    except Exception as exc:  # a driver hiccup must not break the route
        log.warning("ryven_comfy_agent: NVML read failed: %s", exc)
    return out


def _cpu_temperature(psutil: Any) -> float | None:
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    try:
        temps = reader() or {}
    except OSError:
        return None
    for key in ("coretemp", "k10temp", "cpu_thermal", "acpitz"):
        if temps.get(key):
            return float(temps[key][0].current)
    return None


def collect_stats() -> dict[str, Any]:
    """One reading: ``{"agent", "time", "cpu_percent", "ram_used", "ram_total", "cpu_temperature_c", "gpus": [...]}``."""
    global _primed
    out: dict[str, Any] = {"agent": "ryven_comfy_agent", "version": VERSION, "time": time.time(),
                           "cpu_percent": None, "ram_used": None, "ram_total": None, "cpu_temperature_c": None,
                           "gpus": _gpus()}
    try:
        import psutil
    except ImportError:
        return out
    # cpu_percent(None) compares with the previous call: the first call has nothing to compare with.
    pct = psutil.cpu_percent(interval=None)
    out["cpu_percent"] = float(pct) if _primed else None
    _primed = True
    vm = psutil.virtual_memory()
    out["ram_used"] = int(vm.total - vm.available)
    out["ram_total"] = int(vm.total)
    out["cpu_temperature_c"] = _cpu_temperature(psutil)
    return out
