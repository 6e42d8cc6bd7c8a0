"""Benchmark 3 — failover: a real ComfyUI server is killed (SIGKILL) in the middle of a batch.

100 jobs run on 3 real local CPU servers; when about a third are done, the server
running a job is killed. Measured: for every job that was on the killed server, the
time from the kill until it finished elsewhere; over the whole batch, jobs lost
(not succeeded) and jobs duplicated (reported twice, or executed successfully on
more than one surviving server according to their /history).
Run: ``.venv/bin/python -m benchmarks.bench_failover [--jobs 100]``.

``--hang`` instead stops a server (SIGSTOP) mid-batch of 30 jobs for ``--hang-seconds``
(20) and then lets it go on (SIGCONT). Measured: seconds until the pool marks it offline
and until each of its jobs finished elsewhere; then, from every server's /history, how
many times each job's prompts executed successfully (target: exactly once each, 0 lost,
0 duplicated), and what became of the abandoned prompts (withdrawn / interrupted / ran), with the
node each was last heard in before the stop: a prompt stopped in its last node (SaveImage) completes
when the server resumes, whatever is sent to it (ComfyUI checks an interrupt only between nodes).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import signal
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from comfy_backend.config import parse_servers_config
from comfy_backend.events import JobEvent
from comfy_backend.jobs import JobSpec
from comfy_backend.local.instances import (
    kill_local_server,
    local_servers_status,
    start_local_servers,
    stop_local_servers,
)
from comfy_backend.local.processes import signal_group
from comfy_backend.models import Health, JobState
from comfy_backend.pool import ServerPool

from .common import write_result

BASE_PORT = 18388
_LAST_NODE_S = 0.25  # a prompt that completes this soon after a resume was in its last node (SaveImage)


def job_prompt(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": rng.randint(0, 0xFFFFFF)}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 4.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"failover/j{i}"}},
    }


async def run(urls: list[str], state: Path, n_jobs: int) -> dict[str, Any]:
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
        victim = (running[0].server if running else jobs[-1].server) or "s0"
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


def hang_prompt(i: int, rng: random.Random) -> dict[str, Any]:
    """About 2 s of CPU work: long enough to be caught running when the server stops."""
    p = job_prompt(i, rng)
    p["1"]["inputs"].update(width=1024, height=1024)
    p["2"]["inputs"].update(blur_radius=31, sigma=8.0)
    p["3"]["inputs"]["filename_prefix"] = f"hang/j{i}"
    return p


async def successful_executions(pool: ServerPool, prompt_ids: list[str]) -> dict[str, int]:
    """Prompt id -> number of servers whose /history shows it executed successfully."""
    counts = dict.fromkeys(prompt_ids, 0)
    for server in pool.servers.values():
        for pid in prompt_ids:
            entry = await server.client.history(pid)
            if isinstance(entry, dict) and (entry.get("status") or {}).get("status_str") == "success":
                counts[pid] += 1
    return counts


async def abandoned_details(server: Any, at_stop: dict[str, tuple[str, str, str | None]],
                            wall_resume: float) -> list[dict[str, Any]]:
    """Per prompt abandoned on the stopped server: its state and node as last heard before the stop, and
    from its history how it ended, in seconds after the resume (a prompt whose last node was
    already executing at the stop cannot be interrupted: it completes within moments)."""
    out = []
    for prompt_id, (label, state, node) in at_stop.items():
        entry = await server.client.history(prompt_id)
        status = (entry or {}).get("status") or {}
        ended = None
        for name, data in status.get("messages") or []:
            if name in ("execution_success", "execution_interrupted", "execution_error"):
                ended = {"how": name, "node": data.get("node_type"),
                         "s_after_resume": round(data.get("timestamp", 0) / 1000 - wall_resume, 3)}
        # Node "3" (SaveImage) is the prompt's last: once it executes nothing can stop the prompt. The
        # node we heard of lags the server (~0.5 s on a loaded machine), so a prompt that completed
        # within moments of the resume (less than a SaveImage takes) counts as in its last node too.
        last = node == "3" or bool(ended and ended["how"] == "execution_success"
                                   and ended["s_after_resume"] < _LAST_NODE_S)
        out.append({"job": label, "state_at_stop": state, "node_at_stop": node, "in_last_node_at_stop": last,
                    "ended": ended})
    return out


async def run_hang(urls: list[str], state: Path, n_jobs: int, hang_s: float) -> dict[str, Any]:
    cfg = parse_servers_config({
        "servers": [{"id": f"s{i}", "url": u} for i, u in enumerate(urls)],
        "defaults": {"health_interval": 1.0, "max_attempts": 4},
    })
    rng = random.Random(5)
    pool = await ServerPool(cfg).start()
    try:
        t0 = time.monotonic()
        jobs = [pool.submit(JobSpec(hang_prompt(i, rng), label=f"j{i}")) for i in range(n_jobs)]
        while sum(j.state is JobState.SUCCEEDED for j in jobs) < n_jobs // 3:
            await asyncio.sleep(0.02)
        running = [j for j in jobs if j.state is JobState.RUNNING]
        victim = (running[0].server if running else None) or "s0"
        on_victim = [j for j in jobs if j.server == victim and not j.state.final]
        pid = next(s["pid"] for s in local_servers_status(state) if s["index"] == int(victim[1:]))
        signal_group(pid, signal.SIGSTOP)
        t_stop = time.monotonic()
        # What we had heard of each prompt there (messages lag a little behind the server).
        at_stop = {j.attempts[-1].prompt_id: (j.label, j.state.value, j.progress.node) for j in on_victim}
        detected = None
        recover: list[float] = []
        try:
            pending = {j.id: j for j in on_victim}
            while time.monotonic() - t_stop < hang_s:
                if detected is None and pool.servers[victim].health is Health.OFFLINE:
                    detected = time.monotonic() - t_stop
                for jid, j in list(pending.items()):
                    if j.state.final:
                        recover.append(time.monotonic() - t_stop)
                        del pending[jid]
                await asyncio.sleep(0.05)
        finally:
            signal_group(pid, signal.SIGCONT)
            wall_resume = time.time()
        snaps = [await j.future for j in jobs]
        total = time.monotonic() - t0
        # Let the resumed server settle (abandoned prompts withdrawn, or run), then count.
        deadline = time.monotonic() + 60
        while any(s.withdrawals.pending for s in pool.servers.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        prompt_ids = [a.prompt_id for s in snaps for a in s.attempts]
        counts = await successful_executions(pool, prompt_ids)
        per_job = [sum(counts[a.prompt_id] for a in s.attempts) for s in snaps]
        left = {a.prompt_id for j in jobs for a in j.attempts if a.afterwards}  # abandoned, not finished there
        abandoned = await abandoned_details(pool.servers[victim], {p: v for p, v in at_stop.items() if p in left},
                                            wall_resume)
        fates: dict[str, int] = {}
        for j in jobs:
            for a in j.attempts:
                if a.afterwards:
                    fates[a.afterwards] = fates.get(a.afterwards, 0) + 1
    finally:
        await pool.close()
    return {
        "mode": "hang", "jobs": n_jobs, "victim": victim, "hang_seconds": hang_s,
        "jobs_on_victim_at_stop": len(on_victim),
        "detected_offline_s": detected,
        "recovery_s": {"each": recover, "median": median(recover) if recover else None,
                       "max": max(recover) if recover else None},
        "executions": sum(per_job), "lost": sum(1 for s in snaps if s.state is not JobState.SUCCEEDED),
        "not_executed": sum(1 for n in per_job if n == 0), "duplicated_executions": sum(n - 1 for n in per_job if n > 1),
        "abandoned_prompts": fates, "abandoned_details": abandoned,
        "duplicates_in_last_node_at_stop": sum(1 for a in abandoned if a["in_last_node_at_stop"]
                                               and (a["ended"] or {}).get("how") == "execution_success"),
        "retried_jobs": sum(1 for s in snaps if len(s.attempts) > 1),
        "batch_seconds": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=None, help="jobs in the batch (100, or 30 with --hang)")
    ap.add_argument("--hang", action="store_true", help="SIGSTOP a server mid-batch instead of SIGKILL")
    ap.add_argument("--hang-seconds", type=float, default=20.0)
    a = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    servers = start_local_servers(3, base_port=BASE_PORT, state_dir=state)
    try:
        urls = [s.url for s in servers]
        if a.hang:
            result = asyncio.run(run_hang(urls, state, a.jobs or 30, a.hang_seconds))
        else:
            result = asyncio.run(run(urls, state, a.jobs or 100))
    finally:
        stop_local_servers(state)
    print(result)
    print("written to", write_result("failover_hang" if a.hang else "failover", result))


if __name__ == "__main__":
    main()
