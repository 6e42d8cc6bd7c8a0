"""Shared bits of the benchmarks: results files and small statistics."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from comfy_backend.files import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` atomically and return its path."""
    data = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(), **data}
    path = RESULTS_DIR / f"{name}.json"
    atomic_write_text(path, json.dumps(data, indent=2))
    return path


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank, as the results have always been reported)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
