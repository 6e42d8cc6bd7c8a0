"""Benchmark 2 — makespan: 200 jobs of mixed durations on 10 fake servers with speeds 1×–4×.

Each policy's makespan is divided by the lower bound max(total work / total speed,
longest job / fastest speed). Goal: the default policy ≤ 1.10× and clearly ahead of
round-robin and least-queue. Run: ``.venv/bin/python -m benchmarks.bench_makespan [--times 2]``.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

from comfy_backend.config import parse_servers_config
from comfy_backend.fake_server import FakeComfyServer
from comfy_backend.jobs import JobSpec
from comfy_backend.models import JobState
from comfy_backend.pool import ServerPool

from .common import repeated, write_result

KINDS = {"xs": 0.25, "s": 0.5, "m": 1.0, "l": 2.0}  # seconds of work at speed 1×


def job_prompt(kind: str, i: int) -> dict[str, Any]:
    # The EmptyImage width names the kind, so each kind is its own workflow key.
    width = {"xs": 64, "s": 128, "m": 256, "l": 512}[kind]
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": 8, "batch_size": 1, "color": i}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"bench/{kind}"}},
    }


def cost(prompt: dict[str, Any]) -> float:
    width = prompt["1"]["inputs"]["width"]
    return {64: KINDS["xs"], 128: KINDS["s"], 256: KINDS["m"], 512: KINDS["l"]}[width]


async def run_policy(policy: str, speeds: list[float], kinds: list[str], scale: float) -> dict[str, Any]:
    servers = [FakeComfyServer(speed=s / scale, cost=cost, history_delay=0.0) for s in speeds]
    for s in servers:
        await s.start()
    config = parse_servers_config({
        "servers": [{"id": f"g{i}", "url": s.url} for i, s in enumerate(servers)],
        "defaults": {"health_interval": 0.5},
    })
    pool = await ServerPool(config, policy=policy).start()
    try:
        t0 = time.monotonic()
        jobs = [pool.submit(JobSpec(job_prompt(k, i))) for i, k in enumerate(kinds)]
        snaps = [await j.future for j in jobs]
        makespan = time.monotonic() - t0
    finally:
        await pool.close()
        for s in servers:
            await s.stop()
    failed = sum(1 for snap in snaps if snap.state is not JobState.SUCCEEDED)
    per_server: dict[str, int] = {}
    for snap in snaps:
        per_server[snap.server or "-"] = per_server.get(snap.server or "-", 0) + 1
    return {"makespan_s": makespan, "failed": failed, "jobs_per_server": per_server}


async def main_async(n_jobs: int, scale: float, seed: int, repeat: int) -> dict[str, Any]:
    rng = random.Random(seed)
    speeds = [1.0, 1.0, 1.5, 1.5, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]
    kinds = [rng.choice(list(KINDS)) for _ in range(n_jobs)]
    work = sum(KINDS[k] for k in kinds) * scale
    lower = max(work / sum(speeds), max(KINDS[k] for k in kinds) * scale / max(speeds))
    policies: dict[str, Any] = {}
    out = {"jobs": n_jobs, "speeds": speeds, "total_work_s": work, "lower_bound_s": lower, "repeat": repeat, "policies": policies}
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in ("default", "least-queue", "round-robin")}
    for _ in range(repeat):  # policies interleaved, so machine noise hits all alike
        for policy in runs:
            r = await run_policy(policy, speeds, kinds, scale)
            r["ratio"] = r["makespan_s"] / lower
            runs[policy].append(r)
            print(f"{policy:12s} makespan {r['makespan_s']:6.2f} s  ratio {r['ratio']:.3f}  failed {r['failed']}", flush=True)
    for policy, rs in runs.items():
        mid = statistics.median_low(r["ratio"] for r in rs)  # a ratio one run really had
        best = next(r for r in rs if r["ratio"] == mid)
        policies[policy] = {"median_ratio": best["ratio"], "median_makespan_s": best["makespan_s"],
                            "ratios": [r["ratio"] for r in rs], "failed": sum(r["failed"] for r in rs),
                            "jobs_per_server": best["jobs_per_server"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every job's duration")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of every policy (median reported)")
    ap.add_argument("--times", type=int, default=1, help="run the whole measurement this many times in a row")
    args = ap.parse_args()
    result = repeated(args.times, lambda: asyncio.run(main_async(args.jobs, args.scale, args.seed, args.repeat)))
    print(f"lower bound {result['lower_bound_s']:.2f} s")
    for run in result.get("repeats", [result]):
        for p, r in run["policies"].items():
            print(f"{p:12s} median ratio {r['median_ratio']:.3f}")
    print("written to", write_result("makespan", result))


if __name__ == "__main__":
    main()
