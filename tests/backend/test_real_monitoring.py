"""Monitoring against real ComfyUI servers: the agent on an instance of our own, ``servers watch
--once --json`` and ``workflow run --metrics`` on the session's servers (issue 11)."""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from comfy_backend.cli.main import main
from comfy_backend.config import parse_servers_config
from comfy_backend.local.instances import start_local_servers, stop_local_servers
from comfy_backend.local.processes import port_in_use
from comfy_backend.pool import ServerPool
from tests.backend.test_pool_fake import wait_for

pytestmark = pytest.mark.real


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[str]:
    """A fresh local instance (never one of the shared ones): it gets the agent when prepared."""
    base = next(p for p in range(18530, 18630, 7) if not port_in_use(p))
    state = tmp_path / "own-server"
    [srv] = start_local_servers(1, base_port=base, state_dir=state)
    try:
        yield srv.url
    finally:
        stop_local_servers(state)


async def test_agent_route_on_a_real_instance(own_server):
    async with aiohttp.ClientSession() as session, session.get(own_server + "/ryven_comfy/stats") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["agent"] == "ryven_comfy_agent" and body["ram_total"] > 0 and body["gpus"] == []
    cfg = parse_servers_config({"servers": [{"id": "own", "url": own_server}], "defaults": {"health_interval": 0.3}})
    pool = await ServerPool(cfg).start()
    try:
        await wait_for(lambda: pool.servers["own"].snapshot().cpu_percent is not None, timeout=20)
        snap = pool.servers["own"].snapshot()
        assert snap.agent and snap.is_cpu and snap.cpu_percent >= 0 and snap.gpu_percent is None
    finally:
        await pool.close()


def _config(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"servers": [{"id": f"r{i}", "url": u} for i, u in enumerate(urls)]}))
    return path


def test_watch_once_json(real_servers, tmp_path, capsys):
    assert main(["servers", "watch", "--once", "--json", "--servers", str(_config(tmp_path, real_servers))]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in out["servers"]] == [f"r{i}" for i in range(len(real_servers))]
    assert all(s["health"] in ("online", "degraded") and s["comfyui_version"] for s in out["servers"])
    assert out["pool"]["online"] == len(real_servers)


def test_workflow_run_writes_metrics(real_servers, tmp_path, capsys):
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1,
                                                      "color": random.randint(0, 0xFFFFFF)}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "metrics/t"}}}))
    metrics = tmp_path / "m.json"
    rc = main(["workflow", "run", str(wf), "--count", "4", "--out", str(tmp_path / "out"), "--randomize-seed",
               "--servers", str(_config(tmp_path, real_servers)), "--metrics", str(metrics)])
    assert rc == 0
    rep = json.loads(metrics.read_text())
    assert set(rep["servers"]) == {f"r{i}" for i in range(len(real_servers))}
    assert sum(s["jobs"]["completed"] for s in rep["servers"].values()) == 4
    sample = next(s for srv in rep["servers"].values() for s in srv["samples"])
    assert {"t", "queue_ours", "queue_others", "in_flight", "latency_ms", "vram_used", "vram_total", "ram_used",
            "ram_total", "cpu_percent", "gpu_percent"} == set(sample)
