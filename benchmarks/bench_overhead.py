"""Benchmark 1 — overhead: submit → outputs known for a trivial prompt, through the pool,
divided by the same with a minimal direct aiohttp+WebSocket client, on the same real server.

Goal: ≤ 1.2× at the median. Runs are interleaved (direct, pool, direct, pool…) so drift
hits both alike; every prompt has a new colour so the server's cache never answers.
Run: ``.venv/bin/python -m benchmarks.bench_overhead [--url http://127.0.0.1:18188] [--times 2]``
(without --url: the first shared local server when ``RYVEN_COMFY_REUSE_SERVERS=1``, as the tests
use them, else it starts one local CPU server on port 18288 and stops it afterwards).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import time
from statistics import median
from typing import Any

from comfy_backend.config import parse_servers_config
from comfy_backend.jobs import JobSpec
from comfy_backend.models import JobState
from comfy_backend.pool import ServerPool

from .common import pct, repeated, reuse_shared_servers, write_result
from .direct_client import DirectClient


def trivial(colour: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": colour}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


async def measure(url: str, runs: int, warmup: int) -> dict[str, Any]:
    cfg = parse_servers_config({"servers": [{"id": "bench", "url": url}]})
    direct_t: list[float] = []
    pool_t: list[float] = []
    colours = random.Random(1).sample(range(0xFFFFFF), 2 * (runs + warmup))
    async with DirectClient(url) as direct:
        pool = await ServerPool(cfg).start()
        try:
            for i in range(runs + warmup):
                t0 = time.perf_counter()
                out = await direct.run(trivial(colours[2 * i]))
                t1 = time.perf_counter()
                job = await pool.run(JobSpec(trivial(colours[2 * i + 1])))
                t2 = time.perf_counter()
                snap = job.future.result()
                assert out and snap.state is JobState.SUCCEEDED and snap.outputs, snap.error
                if i >= warmup:
                    direct_t.append(t1 - t0)
                    pool_t.append(t2 - t1)
        finally:
            await pool.close()
    return {
        "runs": runs,
        "direct_ms": {"median": median(direct_t) * 1e3, "p90": pct(direct_t, 0.9) * 1e3},
        "pool_ms": {"median": median(pool_t) * 1e3, "p90": pct(pool_t, 0.9) * 1e3},
        "ratio_median": median(pool_t) / median(direct_t),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", help="a running ComfyUI server; default: the first shared local server with "
                    "RYVEN_COMFY_REUSE_SERVERS=1, else start a local CPU one")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--times", type=int, default=1, help="run the whole measurement this many times in a row")
    args = ap.parse_args()
    shared = reuse_shared_servers()
    url: str | None = args.url or (shared[0] if shared else None)

    def once(url: str) -> dict[str, Any]:
        return repeated(args.times, lambda: asyncio.run(measure(url, args.runs, args.warmup)))

    if not url:
        import tempfile
        from pathlib import Path

        from comfy_backend.local.instances import start_local_servers, stop_local_servers

        state = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
        servers = start_local_servers(1, base_port=18288, state_dir=state)
        try:
            result = {**once(servers[0].url), "server": f"{servers[0].url} (started for this run)"}
        finally:
            stop_local_servers(state)
    else:
        result = {**once(url), "server": url}
    for r in result.get("repeats", [result]):
        print(f"direct median {r['direct_ms']['median']:.1f} ms, pool median {r['pool_ms']['median']:.1f} ms, "
              f"ratio {r['ratio_median']:.3f}")
    print("written to", write_result("overhead", result))


if __name__ == "__main__":
    main()
