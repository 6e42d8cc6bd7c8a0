"""Shared bits of the benchmarks: results files and small statistics."""
from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` atomically and return its path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    data = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(), **data}
    fd, tmp = tempfile.mkstemp(dir=RESULTS_DIR, prefix=f".{name}-")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    path = RESULTS_DIR / f"{name}.json"
    os.replace(tmp, path)
    return path


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
