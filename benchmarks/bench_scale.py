"""Benchmark 4 — scale: 10 servers streaming progress, 1000 jobs.

Measures the orchestrator's CPU time and peak memory while the pool runs 1000 sampler
jobs (each streams executing/progress_state/progress messages) on 10 fake servers that
live in another process. Baseline in the same run: the minimal direct client
(benchmarks/direct_client.py) running the same 1000 jobs, 10 at a time, one per server.
Run: ``.venv/bin/python -m benchmarks.bench_scale [--jobs 1000] [--times 2]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from comfy_backend.config import parse_servers_config
from comfy_backend.jobs import JobSpec
from comfy_backend.models import JobState
from comfy_backend.pool import ServerPool

from .common import repeated, write_result
from .direct_client import DirectClient

STEPS = 12


def sampler_prompt(i: int) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "fake.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": f"a cat #{i}", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "seed": i, "steps": STEPS, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "scale/s", "images": ["8", 0]}},
    }


def start_fleet(n: int, speed: float) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_fleet", "--speeds", ",".join([str(speed)] * n),
         "--models", "checkpoints=fake.safetensors"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    urls = json.loads(proc.stdout.readline())["urls"]
    return proc, urls


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run_direct(urls: list[str], jobs: int) -> None:
    async def worker(url: str, ids: list[int]) -> None:
        async with DirectClient(url) as c:
            for i in ids:
                await c.run(sampler_prompt(100000 + i))

    await asyncio.gather(*(worker(u, list(range(k, jobs, len(urls)))) for k, u in enumerate(urls)))


async def run_pool(urls: list[str], jobs: int) -> dict[str, Any]:
    cfg = parse_servers_config({"servers": [{"id": f"s{i}", "url": u} for i, u in enumerate(urls)]})
    events = 0

    def count(_e: object) -> None:
        nonlocal events
        events += 1

    pool = await ServerPool(cfg).start()
    pool.subscribe(count)
    try:
        handles = [pool.submit(JobSpec(sampler_prompt(i))) for i in range(jobs)]
        snaps = [await h.future for h in handles]
    finally:
        await pool.close()
    return {"failed": sum(1 for s in snaps if s.state is not JobState.SUCCEEDED), "events": events}


def measure(urls: list[str], jobs: int, servers: int) -> dict[str, Any]:
    """One run: the direct client, then the pool, then a shorter traced pool run for the heap peak."""
    c0, t0 = cpu(), time.monotonic()
    asyncio.run(run_direct(urls, jobs))
    direct_cpu, direct_wall = cpu() - c0, time.monotonic() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c0, t0 = cpu(), time.monotonic()
    pool_result = asyncio.run(run_pool(urls, jobs))
    pool_cpu, pool_wall = cpu() - c0, time.monotonic() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Python heap peak in a separate, shorter run: tracemalloc slows everything it traces.
    tracemalloc.start()
    asyncio.run(run_pool(urls, min(jobs, 200)))
    _, peak_traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ru_maxrss is the peak of the process so far: in a second run in the same process the
    # growth is what that run added beyond the first run's peak.
    return {
        "jobs": jobs, "servers": servers, "steps_per_job": STEPS,
        "direct": {"cpu_s": direct_cpu, "wall_s": direct_wall, "cpu_ms_per_job": direct_cpu / jobs * 1e3},
        "pool": {"cpu_s": pool_cpu, "wall_s": pool_wall, "cpu_ms_per_job": pool_cpu / jobs * 1e3,
                 "python_heap_peak_mb_200_jobs": peak_traced / 2**20, "process_peak_rss_mb": rss_after / 1024,
                 "rss_growth_mb": (rss_after - rss_before) / 1024, **pool_result},
        "cpu_ratio": pool_cpu / direct_cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--speed", type=float, default=5.0, help="fake speed (5: ~60 ms per job)")
    ap.add_argument("--times", type=int, default=1, help="run the whole measurement this many times in a row")
    a = ap.parse_args()
    proc, urls = start_fleet(a.servers, a.speed)
    try:
        result = repeated(a.times, lambda: measure(urls, a.jobs, a.servers))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)
    print(json.dumps(result, indent=2))
    print("written to", write_result("scale", result))


if __name__ == "__main__":
    main()
