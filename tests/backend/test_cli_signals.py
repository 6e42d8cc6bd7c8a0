"""``workflow run`` against fake servers in a subprocess: SIGTERM is handled like Ctrl-C, and the
report is always printed with one row per job."""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import yaml

from tests.backend.test_pool_fake import wait_for
from tests.fake_fixtures import width_cost


def _workflow(tmp: Path, ms: int) -> Path:
    wf = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": ms, "height": 8, "batch_size": 1, "color": 0, "seed": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "sig/run"}},
    }
    path = tmp / "wf.json"
    path.write_text(json.dumps(wf))
    return path


def _servers(tmp: Path, servers: list) -> Path:
    path = tmp / "servers.yaml"
    path.write_text(yaml.safe_dump({"servers": [{"id": f"f{i}", "url": s.url, "max_concurrent": 1}
                                                for i, s in enumerate(servers)],
                                    "defaults": {"health_interval": 0.5}}))
    return path


async def _cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "comfy_backend.cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_sigterm_cancels_the_batch_keeps_finished_outputs_and_reports(fake_servers, tmp_path):
    servers = await fake_servers(2, cost=width_cost, history_delay=0.02)
    out = tmp_path / "out"
    proc = await _cli("workflow", "run", str(_workflow(tmp_path, 1500)), "--servers", str(_servers(tmp_path, servers)),
                      "--count", "8", "--json", "--out", str(out))
    # Once a job's outputs are saved (and with more still queued or running), stop the command.
    await wait_for(lambda: any(out.rglob("*.png")), timeout=60)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 130, stderr.decode()
    report = json.loads(stdout)
    statuses = [j["status"] for j in report["jobs"]]
    assert len(statuses) == 8 and "succeeded" in statuses and "cancelled" in statuses
    saved = [p for j in report["jobs"] if j["status"] == "succeeded" for p in j["outputs"]]
    assert saved and all(Path(p).is_file() for p in saved)
    # Nothing of ours is left to run for nobody.
    await wait_for(lambda: all(s.queue_remaining == 0 for s in servers), timeout=30)
    ran = sum(len(s.executed_prompt_ids) for s in servers)
    await asyncio.sleep(0.5)
    assert sum(len(s.executed_prompt_ids) for s in servers) == ran


async def test_report_is_printed_when_some_jobs_fail(fake_servers, tmp_path):
    servers = await fake_servers(1, cost=width_cost, history_delay=0.02)
    servers[0].fail_node("SaveImage", "disk full", times=1)
    out = tmp_path / "out"
    proc = await _cli("workflow", "run", str(_workflow(tmp_path, 10)), "--servers", str(_servers(tmp_path, servers)),
                      "--count", "3", "--json", "--out", str(out))
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, stderr.decode()
    jobs = json.loads(stdout)["jobs"]
    assert sorted(j["status"] for j in jobs) == ["failed", "succeeded", "succeeded"]
    assert all(Path(p).is_file() for j in jobs for p in j["outputs"])
