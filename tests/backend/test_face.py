"""The face (Orchestrator) against fake servers: non-blocking reads, node definitions cache and
NodeDefsEvent, run requests checked before queueing, saving outputs."""
from __future__ import annotations

import asyncio
import copy
import threading

import pytest

from comfy_backend import (
    ComfyBackendError,
    Health,
    JobState,
    NodeDefsEvent,
    NoServerAvailable,
    Orchestrator,
    ParameterError,
    RunRequest,
    Target,
)
from comfy_backend.fake_server.catalog import Catalog, default_object_info
from tests.backend.test_prepare import UI
from tests.fake_fixtures import pool_config


def api(colour: int = 1) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": colour}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t/face"}},
    }


async def until(cond, timeout: float = 20.0) -> None:
    """Wait (letting the fake servers on this loop run) until ``cond()``."""
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def started(config) -> Orchestrator:
    # start() waits on a thread; the fake servers live on this loop, so wait off it.
    return await asyncio.to_thread(lambda: Orchestrator(config).start(wait_checked=True))


@pytest.fixture
async def face(fake_servers):
    made = []

    async def make(n: int = 2, **kw):
        servers = await fake_servers(n, history_delay=0.01, **kw)
        orch = await started(pool_config(servers))
        made.append(orch)
        return orch, servers

    yield make
    for orch in made:
        await asyncio.to_thread(orch.close)


async def test_reads_and_node_definitions_without_waiting(face) -> None:
    orch, _ = await face(2)
    events: list = []
    orch.subscribe(events.append)
    assert [s.id for s in orch.servers()] == ["f0", "f1"] and orch.server("f1").health is Health.ONLINE
    assert orch.server("nope") is None
    await until(lambda: set(orch.all_node_definitions()) == {"f0", "f1"})
    assert "EmptyImage" in orch.node_definitions("f1") and orch.node_definitions() is orch.node_definitions("f0")
    sid, info = await asyncio.wrap_future(orch.fetch_node_definitions())
    assert sid == "f0" and info is orch.node_definitions("f0")
    series = await asyncio.wrap_future(orch.metrics_series(["latency_ms", "queue_pending"]))
    assert set(series) == {"f0", "f1"} and set(series["f0"]) == {"latency_ms", "queue_pending"}
    with pytest.raises(NoServerAvailable):
        await asyncio.wrap_future(orch.fetch_node_definitions("nope"))


async def test_node_definitions_reload_after_a_restart_with_other_nodes(face) -> None:
    orch, servers = await face(1)
    events: list = []
    orch.subscribe(events.append)
    await until(lambda: orch.node_definitions("f0") is not None)
    before = orch.node_definitions("f0")
    await servers[0].kill()
    await until(lambda: orch.server("f0").health is Health.OFFLINE)
    other = copy.deepcopy(default_object_info())
    other["MyNewNode"] = copy.deepcopy(other["PreviewImage"])
    servers[0].catalog = Catalog(other)
    await servers[0].restart()
    await until(lambda: "MyNewNode" in (orch.node_definitions("f0") or {}))
    defs_events = [e for e in events if isinstance(e, NodeDefsEvent)]
    assert defs_events and defs_events[-1].server_id == "f0" and defs_events[-1].version >= 2
    assert "MyNewNode" not in before                      # the old dict was not changed in place


async def test_run_request_checked_before_queueing_then_run_per_server(face, tmp_path) -> None:
    orch, _ = await face(2)
    await until(lambda: len(orch.all_node_definitions()) == 2)
    with pytest.raises(ParameterError, match="parameter 'Blur radius': 40 is above the maximum 31"):
        orch.submit(RunRequest(api(), values={"2.blur_radius": 40}, labels={"2.blur_radius": "Blur radius"}))
    assert orch.jobs() == []                              # nothing was queued
    ui = orch.submit(RunRequest(UI, values={"2.blur_radius": 3}, outputs=("3",), label="ui"))
    plain = orch.submit(RunRequest(api(7), target=Target(server="f1"), label="plain"))
    assert orch.job(ui.id) is not None                    # known at once, before the loop saw it
    snaps = [await asyncio.wrap_future(h.future) for h in (ui, plain)]
    assert [s.state for s in snaps] == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    assert snaps[1].server == "f1" and orch.job(plain.id).state is JobState.SUCCEEDED
    paths = await asyncio.wrap_future(orch.save_outputs(snaps[0].outputs, tmp_path))
    assert paths and all(p.is_file() and tmp_path in p.parents for p in paths)
    assert not orch.cancel(ui.id)                         # already ended


async def test_open_names_each_unreachable_server(fake_servers) -> None:
    servers = await fake_servers(1)
    config = pool_config(servers)
    await servers[0].kill()
    with pytest.raises(NoServerAvailable, match=r"no reachable server: f0 \("):
        await asyncio.to_thread(Orchestrator.open, config)
    assert not any(t.name == "comfy-backend" and t.is_alive() for t in threading.enumerate())


async def test_a_stopped_backend_fails_futures_instead_of_raising(face) -> None:
    # GUI timers may still ask while a window closes: they get a failed future, not an exception.
    orch, _ = await face(1)
    await asyncio.to_thread(orch.close)
    for fut in (orch.metrics_series(["latency_ms"]), orch.userdata_list("f0", "workflows")):
        with pytest.raises(ComfyBackendError, match="the backend is not running"):
            await asyncio.wrap_future(fut)
    assert orch.cancel("no-such-job") is False
