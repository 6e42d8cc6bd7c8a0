"""Shared bits of the benchmarks: results files, the machine's load, repeated runs, small statistics."""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from comfy_backend.files import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class LoadProbe:
    """How busy the machine was between its creation and :meth:`stop` (colleagues share it).

    ``machine_busy_percent`` counts every process, this benchmark's included, as a share of
    all cores; ``this_process_percent`` is ours (and our waited-for children) alone.
    """

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.load0 = os.getloadavg()
        self.sys0 = psutil.cpu_times()
        self.own0 = self._own()

    @staticmethod
    def _own() -> float:
        t = psutil.Process().cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    @staticmethod
    def _total(t: Any) -> float:
        # Linux counts guest time inside user time as well: leave it out so nothing counts twice.
        return float(sum(t)) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)

    def stop(self) -> dict[str, Any]:
        """The load figures from creation until now."""
        sys1 = psutil.cpu_times()
        total = self._total(sys1) - self._total(self.sys0)
        idle = (sys1.idle + getattr(sys1, "iowait", 0.0)) - (self.sys0.idle + getattr(self.sys0, "iowait", 0.0))
        wall = max(time.monotonic() - self.t0, 1e-9)
        cpus = os.cpu_count() or 1
        return {
            "loadavg_before": [round(x, 2) for x in self.load0],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "machine_busy_percent": round(100.0 * (total - idle) / total, 1) if total > 0 else None,
            "this_process_percent": round(100.0 * (self._own() - self.own0) / (wall * cpus), 1),
            "seconds": round(wall, 1),
        }


_INVOCATION = LoadProbe()   # from the benchmark's import to its write_result


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` atomically and return its path.

    Adds the benchmark's name, the date, the machine, the load over the whole invocation and the
    exact command line that produced it (``benchmarks.report`` shows them with the figures).
    """
    data = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
            "load": _INVOCATION.stop(), "command": command_line(), **data}
    path = RESULTS_DIR / f"{name}.json"
    atomic_write_text(path, json.dumps(data, indent=2))
    return path


def command_line() -> str:
    """How this benchmark was started, as one would type it from the repository root."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    prog = f"-m {spec.name}" if spec is not None else (sys.argv[0] if sys.argv else "?")
    env = " ".join(f"{k}={os.environ[k]}" for k in ("RYVEN_COMFY_REUSE_SERVERS", "BENCH_GUI_STALLS") if os.environ.get(k))
    return " ".join(x for x in (env, ".venv/bin/python", prog, *sys.argv[1:]) if x)


def repeated(times: int, once: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``once`` ``times`` times in a row (ratio benchmarks on a shared machine are run more than once).

    The first run's figures stay at the top level (the JSON keeps its shape); ``repeats`` holds
    every run's figures, the first included, each with the machine's load during it.
    """
    runs: list[dict[str, Any]] = []
    for i in range(max(1, times)):
        probe = LoadProbe()
        r = once()
        runs.append({**r, "load": probe.stop()})
        if times > 1:
            print(f"run {i + 1} of {times} done", flush=True)
    first = {k: v for k, v in runs[0].items() if k != "load"}
    return {**first, "repeats": runs} if times > 1 else first


def reuse_shared_servers() -> list[str] | None:
    """URLs of the shared local servers when ``RYVEN_COMFY_REUSE_SERVERS`` is set (as the tests use them).

    They are listed in ``servers.yaml`` of the default local state dir (``ryven-comfy local-servers
    up`` writes it); ``None`` when the variable is unset. Never starts or stops anything.
    """
    if os.environ.get("RYVEN_COMFY_REUSE_SERVERS", "") in ("", "0", "false", "no"):
        return None
    from comfy_backend.config import load_servers_config
    from comfy_backend.local.instances import default_state_dir

    path = default_state_dir().expanduser() / "servers.yaml"
    if not path.exists():
        raise SystemExit(f"RYVEN_COMFY_REUSE_SERVERS is set but {path} does not exist "
                         "(start them with 'ryven-comfy local-servers up --count 3')")
    return [str(s.url) for s in load_servers_config(path).servers]


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank, as the results have always been reported)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
