"""Monitoring in the core: the agent route, checked figures, servers changed at run time,
the metrics report, and editing the servers file (issue 11)."""
from __future__ import annotations

import json
import logging
import os

import pytest

from comfy_backend import ConfigChanged, ConfigError, ServersFile
from comfy_backend.agent import AGENT_DIR_NAME, install_agent
from comfy_backend.agent.ryven_comfy_agent.stats import collect_stats
from comfy_backend.config import ServerConfig
from comfy_backend.events import ServerEvent
from comfy_backend.jobs import JobSpec, Target
from comfy_backend.metrics import Sample, ServerMetrics, metrics_report
from comfy_backend.models import Health, JobState
from comfy_backend.pool import ServerPool
from tests.backend.test_pool_fake import prompt, wait_for
from tests.fake_fixtures import pool_config, width_cost

AGENT = {"agent": "ryven_comfy_agent", "cpu_percent": 37.5, "ram_used": 3 * 2**30, "ram_total": 8 * 2**30,
         "gpus": [{"gpu_percent": 80.0, "vram_used": 2**30, "vram_total": 4 * 2**30, "temperature_c": 66.0}]}


def test_agent_reading_has_the_documented_keys():
    collect_stats()
    s = collect_stats()
    assert s["agent"] == "ryven_comfy_agent"
    assert 0 <= s["cpu_percent"] <= 100 * os.cpu_count()
    assert 0 < s["ram_used"] <= s["ram_total"]
    assert isinstance(s["gpus"], list)


def test_install_agent_copies_and_replaces(tmp_path):
    with pytest.raises(ConfigError):
        install_agent(tmp_path / "missing")
    target = install_agent(tmp_path)
    assert (target / "__init__.py").is_file() and (target / "stats.py").is_file()
    target2 = install_agent(tmp_path)  # again: replaced, nothing left over
    assert target2 == tmp_path / AGENT_DIR_NAME
    assert sorted(p.name for p in tmp_path.iterdir()) == [AGENT_DIR_NAME]


def test_implausible_figures_become_none_with_one_log_line(caplog):
    m = ServerMetrics(server_id="x")
    with caplog.at_level(logging.WARNING):
        assert m.plausible("vram_free", -5, "bytes") is None
        assert m.plausible("vram_free", -6, "bytes") is None
        assert m.plausible("cpu_percent", float("nan"), "percent") is None
        assert m.plausible("ram_total", 2**60, "bytes") is None
        assert m.plausible("cpu_percent", "lots", "percent") is None
        assert m.plausible("ram_total", 2**33, "bytes") == 2**33
    assert sum("vram_free" in r.message for r in caplog.records) == 1


def test_metrics_report_shape():
    m = ServerMetrics()
    m.add_sample(Sample(t=1.0, latency_ms=2.0, queue_running=1, queue_pending=2, foreign=1, in_flight=2,
                        vram_free=1, vram_total=3, ram_free=None, ram_total=None))
    m.record_success(1.0, 0.2)
    m.record_failure()
    m.record_retry()
    rep = metrics_report({"a": m})
    sample = rep["servers"]["a"]["samples"][0]
    assert set(sample) == {"t", "queue_ours", "queue_others", "in_flight", "latency_ms", "vram_used", "vram_total",
                           "ram_used", "ram_total", "cpu_percent", "gpu_percent"}
    assert sample["queue_ours"] == 2 and sample["vram_used"] == 2 and sample["ram_used"] is None
    assert rep["servers"]["a"]["jobs"]["completed"] == 1 and rep["servers"]["a"]["jobs"]["retried"] == 1
    json.dumps(rep)


async def test_agent_polled_when_present_and_garbage_ignored(fake_servers, caplog):
    servers = await fake_servers(3, cost=width_cost, history_delay=0.02)
    servers[0].agent_stats = AGENT
    servers[1].agent_stats = {"cpu_percent": -4, "gpus": "lots", "ram_used": "x"}
    pool = await ServerPool(pool_config(servers)).start()
    try:
        await wait_for(lambda: pool.servers["f0"].agent_stats.get("cpu_percent") is not None)
        s0 = pool.servers["f0"].snapshot()
        assert s0.agent and s0.cpu_percent == 37.5 and s0.gpu_percent == 80.0 and s0.temperature_c == 66.0
        assert s0.is_cpu  # the fake says device type cpu
        await wait_for(lambda: pool.servers["f1"].agent is True)
        s1 = pool.servers["f1"].snapshot()
        assert s1.health is Health.ONLINE and s1.cpu_percent is None and s1.gpu_percent is None
        assert pool.servers["f2"].agent is False and not pool.servers["f2"].snapshot().agent
        servers[2].faults.bad_answers["/system_stats"] = {"system": {"ram_total": -1, "ram_free": 2**62},
                                                         "devices": [{"vram_total": 10, "vram_free": 20}]}
        await wait_for(lambda: pool.servers["f2"].snapshot().ram_total is None)
        snap = pool.servers["f2"].snapshot()
        assert snap.health is Health.ONLINE and snap.vram_free is None and snap.vram_total == 10
        sample = pool.servers["f0"].metrics.samples[-1]
        assert sample.cpu_percent == 37.5 and sample.online
    finally:
        await pool.close()


async def test_servers_added_edited_removed_while_running(fake_servers):
    servers = await fake_servers(3, cost=width_cost, history_delay=0.02)
    pool = await ServerPool(pool_config(servers[:2])).start()
    events: list = []
    pool.subscribe(events.append)
    try:
        await pool.add_server(ServerConfig(id="new", url=servers[2].url, tags=["x"]))
        await wait_for(lambda: pool.servers["new"].usable)
        job = await pool.run(JobSpec(prompt(), label="on new", target=Target(server="new")))
        assert job.state is JobState.SUCCEEDED
        with pytest.raises(Exception, match="already"):
            await pool.add_server(ServerConfig(id="new", url=servers[2].url))
        # edit without a new connection: applied in place
        await pool.replace_server(ServerConfig(id="new", url=servers[2].url, name="Renamed", enabled=False))
        assert pool.servers["new"].snapshot().name == "Renamed"
        await wait_for(lambda: pool.servers["new"].health is Health.DISABLED)
        # remove f0 while a long job runs there: the job finishes, then f0 is gone
        long = pool.submit(JobSpec(prompt(ms=600), label="long", target=Target(server="f0")))
        await wait_for(lambda: long.state is JobState.RUNNING)
        await pool.remove_server("f0")
        assert "f0" not in pool.servers
        assert long.state is JobState.SUCCEEDED
        assert any(isinstance(e, ServerEvent) and e.server.removed and e.server.id == "f0" for e in events)
        # a new url: a new connection
        await pool.replace_server(ServerConfig(id="f1", url=servers[2].url))
        await wait_for(lambda: pool.servers["f1"].usable)
        assert pool.servers["f1"].config.url == servers[2].url
    finally:
        await pool.close()


def test_servers_file_edits_saved_atomically_and_guarded(tmp_path):
    path = tmp_path / "servers.yaml"
    path.write_text("servers:\n  - id: a\n    url: http://127.0.0.1:1\n")
    sf = ServersFile(path)
    sf.upsert(ServerConfig(id="b", url="http://127.0.0.1:2", tags=["gpu"],
                           auth={"kind": "bearer", "token_env": "B_TOKEN"}))
    sf.set_enabled("a", False)
    sf.save()
    again = ServersFile(path).config()
    assert [s.id for s in again.servers] == ["a", "b"] and not again.servers[0].enabled
    assert again.servers[1].auth.token_env == "B_TOKEN"
    # changed on disk meanwhile: not overwritten, the edit is kept
    path.write_text(path.read_text() + "# someone else\n")
    sf.remove("a")
    with pytest.raises(ConfigChanged):
        sf.save()
    assert sf.ids() == ["b"] and "someone else" in path.read_text()
    sf.save(overwrite=True)
    assert ServersFile(path).ids() == ["b"]
    # read-only: a clear error, the file untouched, the edit kept
    path.chmod(0o444)
    try:
        sf.remove("b")
        if os.geteuid() != 0:  # root may write anything
            with pytest.raises(ConfigError, match="read-only"):
                sf.save()
            assert ServersFile(path).ids() == ["b"]
        assert sf.ids() == []
    finally:
        path.chmod(0o644)
