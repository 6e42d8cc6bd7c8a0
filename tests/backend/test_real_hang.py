"""A real ComfyUI server stopped (SIGSTOP) mid-batch, then resumed: nothing lost, nothing run twice.

The stopped server is an instance of this test's own (never one of the shared servers); the
other is the session's first real server.
"""
from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_backend.config import parse_servers_config
from comfy_backend.jobs import JobSpec
from comfy_backend.local.instances import local_servers_status, start_local_servers, stop_local_servers
from comfy_backend.local.processes import port_in_use, signal_group
from comfy_backend.models import JobState
from comfy_backend.pool import ServerPool

pytestmark = pytest.mark.real


def slow_blur(i: int) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1,
                                                      "color": random.randint(0, 0xFFFFFF)}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 31, "sigma": 8.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"hang/t{i}"}},
    }


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    base = next(p for p in range(18420, 18520, 7) if not port_in_use(p))
    state = tmp_path / "own-server"
    [srv] = start_local_servers(1, base_port=base, state_dir=state)
    try:
        yield srv.url, state
    finally:
        pid = local_servers_status(state)[0]["pid"]
        if pid:
            signal_group(pid, signal.SIGCONT)  # never leave it stopped
        stop_local_servers(state)


async def _wait(cond, timeout: float) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_hung_server_loses_nothing_and_runs_nothing_twice(real_servers, own_server):
    url, state = own_server
    cfg = parse_servers_config({"servers": [{"id": "own", "url": url}, {"id": "shared", "url": real_servers[0]}],
                                "defaults": {"health_interval": 1.0, "max_attempts": 4, "retry_backoff": 0.1}})
    pool = await ServerPool(cfg).start()
    pid = local_servers_status(state)[0]["pid"]
    try:
        jobs = [pool.submit(JobSpec(slow_blur(i), label=f"t{i}")) for i in range(6)]
        # Stopped while a prompt there runs its blur (node 2, seconds long), so that a node boundary
        # is still ahead of it: the interrupt waiting in the backlog must stop it there on resume. (A
        # prompt stopped in its last node completes on resume, whatever is sent: not tested here.)
        def blurring() -> list:
            return [j for j in jobs if j.server == "own" and j.state is JobState.RUNNING and j.progress.node == "2"]

        await _wait(lambda: bool(blurring()), 120)
        signal_group(pid, signal.SIGSTOP)
        stopped_running = blurring()[0].attempts[-1].prompt_id
        try:
            snaps = await asyncio.wait_for(asyncio.gather(*(j.future for j in jobs)), 300)
        finally:
            signal_group(pid, signal.SIGCONT)
        assert all(s.state is JobState.SUCCEEDED for s in snaps), [s.error for s in snaps]
        assert any(len(s.attempts) > 1 for s in snaps)
        await _wait(lambda: not pool.servers["own"].withdrawals.pending, 120)
        for snap in snaps:
            runs = 0
            for attempt in snap.attempts:
                entry = await pool.servers[attempt.server].client.history(attempt.prompt_id)
                runs += bool(entry) and entry.get("status", {}).get("status_str") == "success"
            assert runs == 1, (snap.label, [(a.server, a.afterwards) for a in snap.attempts])
        abandoned = [a for j in jobs for a in j.attempts if a.server == "own" and a.outcome.value == "retried"]
        assert abandoned and all(a.afterwards and not a.duplicate for a in abandoned)
        running_then = next(a for a in abandoned if a.prompt_id == stopped_running)
        assert running_then.afterwards == "interrupted after it was abandoned"
    finally:
        await pool.close()
