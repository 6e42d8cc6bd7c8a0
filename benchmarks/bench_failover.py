"""Benchmark 3 — failover: a real ComfyUI server is killed (SIGKILL) in the middle of a batch.

100 jobs run on 3 real local CPU servers; when about a third are done, the server
running a job is killed. Measured: for every job that was on the killed server, the
time from the kill until it finished elsewhere; over the whole batch, jobs lost
(not succeeded) and jobs duplicated (reported twice, or executed successfully on
more than one surviving server according to their /history).
Run: ``.venv/bin/python -m benchmarks.bench_failover [--jobs 100]``.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from statistics import median

from comfy_backend.config import parse_servers_config
from comfy_backend.events import JobEvent
from comfy_backend.jobs import JobSpec
from comfy_backend.local.instances import kill_local_server, start_local_servers, stop_local_servers
from comfy_backend.models import JobState
from comfy_backend.pool import ServerPool

from .common import write_result

BASE_PORT = 18388


def job_prompt(i: int, rng: random.Random) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": rng.randint(0, 0xFFFFFF)}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 4.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"failover/j{i}"}},
    }


async def run(urls: list[str], state: Path, n_jobs: int) -> dict:
    cfg = parse_servers_config({
        "servers": [{"id": f"s{i}", "url": u} for i, u in enumerate(urls)],
        "defaults": {"health_interval": 1.0, "max_attempts": 4},
    })
    finals: dict[str, int] = {}

    def on_event(e: object) -> None:
        if isinstance(e, JobEvent) and e.job.state.final and e.kind == "state":
            finals[e.job.id] = finals.get(e.job.id, 0) + 1

    rng = random.Random(3)
    pool = await ServerPool(cfg).start()
    pool.subscribe(on_event)
    try:
        t0 = time.monotonic()
        jobs = [pool.submit(JobSpec(job_prompt(i, rng), label=f"j{i}")) for i in range(n_jobs)]
        while sum(j.state is JobState.SUCCEEDED for j in jobs) < n_jobs // 3:
            await asyncio.sleep(0.02)
        running = [j for j in jobs if j.state is JobState.RUNNING]
        victim = running[0].server if running else jobs[-1].server or "s0"
        on_victim = [j for j in jobs if j.server == victim and not j.state.final]
        t_kill = time.monotonic()
        await asyncio.to_thread(kill_local_server, int(victim[1:]), state)
        recover = []
        for j in on_victim:
            await j.future
            recover.append(time.monotonic() - t_kill)
        snaps = [await j.future for j in jobs]
        total = time.monotonic() - t0
        # duplicates: a job whose prompts succeeded on more than one surviving server
        succeeded_on: dict[str, int] = {}
        for sid, server in pool.servers.items():
            if sid == victim:
                continue
            for s in snaps:
                for a in s.attempts:
                    if a.server == sid:
                        h = await server.client.history(a.prompt_id)
                        if h and h.get("status", {}).get("status_str") == "success":
                            succeeded_on[s.id] = succeeded_on.get(s.id, 0) + 1
    finally:
        await pool.close()
    # Events are delivered after the state change: give the last ones a moment.
    lost = sum(1 for s in snaps if s.state is not JobState.SUCCEEDED)
    dup_reports = sum(1 for n in finals.values() if n > 1)
    dup_exec = sum(1 for n in succeeded_on.values() if n > 1)
    return {
        "jobs": n_jobs, "victim": victim, "jobs_on_victim_at_kill": len(on_victim),
        "recovery_s": {"each": recover, "median": median(recover) if recover else None, "max": max(recover) if recover else None},
        "lost": lost, "duplicated_reports": dup_reports, "duplicated_executions": dup_exec,
        "retried_jobs": sum(1 for s in snaps if len(s.attempts) > 1), "batch_seconds": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=100)
    a = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    servers = start_local_servers(3, base_port=BASE_PORT, state_dir=state)
    try:
        result = asyncio.run(run([s.url for s in servers], state, a.jobs))
    finally:
        stop_local_servers(state)
    print(result)
    print("written to", write_result("failover", result))


if __name__ == "__main__":
    main()
