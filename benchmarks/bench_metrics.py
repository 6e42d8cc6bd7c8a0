"""Cost of metrics collection: CPU time of an idle pool per server per minute (issue 11).

An Orchestrator watches N fake servers (run in their own process, so only our side is
measured) with the default 2 s health interval; our process's CPU time over the run,
minus an idle baseline of the same length, is divided by servers and minutes. The fakes
do not answer the agent route (a server with the agent adds one small GET per check).

``python -m benchmarks.bench_metrics [--servers 10] [--seconds 60] [--times 2]`` → results/metrics.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from comfy_backend import Orchestrator
from comfy_backend.config import parse_servers_config

from .common import repeated, write_result

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def measure(urls: list[str], seconds: float, interval: float) -> float:
    """CPU seconds our process used while a pool watched ``urls`` for ``seconds``."""
    cfg = parse_servers_config({"servers": [{"id": f"s{i}", "url": u} for i, u in enumerate(urls)],
                                "defaults": {"health_interval": interval}})
    with Orchestrator(cfg).start(wait_checked=True):
        time.sleep(interval * 2)  # first checks and node lists loaded: steady state from here
        c0 = cpu_seconds()
        time.sleep(seconds)
        return cpu_seconds() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--times", type=int, default=1, help="run the whole measurement this many times in a row")
    a = ap.parse_args()
    fleet = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_fleet", "--speeds", ",".join(["1"] * a.servers)],
                             cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert fleet.stdout is not None and fleet.stdin is not None
    try:
        urls = json.loads(fleet.stdout.readline())["urls"]
        result = repeated(a.times, lambda: once(urls, a.servers, a.seconds, a.interval))
    finally:
        fleet.stdin.close()
        fleet.wait(10)
    print(json.dumps(result, indent=2))
    write_result("metrics", result)


def once(urls: list[str], servers: int, seconds: float, interval: float) -> dict[str, Any]:
    """One run: an idle baseline of ``seconds``, then a pool watching ``urls`` as long."""
    c0 = cpu_seconds()
    time.sleep(seconds)
    idle = cpu_seconds() - c0
    used = measure(urls, seconds, interval)
    minutes = seconds / 60.0
    per = (used - idle) / servers / minutes
    return {"servers": servers, "seconds": seconds, "health_interval": interval,
            "checks_per_server_per_minute": 60.0 / interval, "cpu_seconds_total": round(used, 3),
            "cpu_seconds_idle_baseline": round(idle, 3),
            "cpu_ms_per_server_per_minute": round(per * 1000.0, 1),
            "cpu_percent_of_one_core_for_all_servers": round((used - idle) / seconds * 100.0, 2),
            "note": "fake servers without the agent route (404 once per connection): /system_stats + /queue "
                    "per check; the agent adds one small GET per check"}


if __name__ == "__main__":
    main()
