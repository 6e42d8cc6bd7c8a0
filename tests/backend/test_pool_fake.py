"""The pool against fake ComfyUI servers: scheduling, retries, failover, cancel, events."""
from __future__ import annotations

import asyncio
import random

from comfy_backend.errors import ErrorKind
from comfy_backend.events import JobEvent, ServerEvent
from comfy_backend.jobs import JobSpec, Target, Upload
from comfy_backend.models import Health, JobState
from comfy_backend.pool import ServerPool
from tests.fake_fixtures import pool_config


def prompt(ms: int = 10, colour: int | None = None, prefix: str = "t/run") -> dict:
    """EmptyImage → SaveImage; the fakes below take ``width`` as milliseconds of work."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": ms, "height": 8, "batch_size": 1,
                                                      "color": random.randint(0, 0xFFFFFF) if colour is None else colour}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


async def wait_for(cond, timeout=10.0):
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)




async def test_trivial_job_outputs_and_events(pool_of):
    pool, servers = await pool_of(2)
    events = []
    pool.subscribe(events.append)
    job = await pool.run(JobSpec(prompt(), label="one"))
    snap = job.future.result()
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert len(snap.attempts) == 1 and snap.attempts[0].error is None
    assert snap.progress.fraction == 1.0
    [ref] = snap.outputs
    assert ref.subfolder == "t" and ref.filename.startswith("run_") and ref.type == "output"
    data = await pool.fetch_output(ref)
    assert data.startswith(b"\x89PNG")
    states = [e.job.state for e in events if isinstance(e, JobEvent) and e.job.id == job.id]
    assert states[0] is JobState.QUEUED and states[-1] is JobState.SUCCEEDED
    assert sum(1 for s in states if s.final) >= 1
    assert any(isinstance(e, ServerEvent) for e in events)
    # the server's snapshot follows the job at once (not at its next health check): in flight, then not
    ran_on = snap.attempts[0].server
    flights = [e.server.in_flight for e in events if isinstance(e, ServerEvent) and e.server.id == ran_on]
    assert 1 in flights and flights[-1] == 0


async def test_validation_error_is_not_retried(pool_of):
    pool, servers = await pool_of(2)
    bad = prompt()
    del bad["1"]["inputs"]["color"]          # required input missing → HTTP 400
    job = await pool.run(JobSpec(bad))
    snap = job.future.result()
    assert snap.state is JobState.FAILED
    assert len(snap.attempts) == 1
    assert snap.error.kind == ErrorKind.REJECTED
    assert "color" in snap.error.message


async def test_runtime_error_reported_without_traceback(pool_of):
    pool, servers = await pool_of(1)
    servers[0].fail_node("SaveImage", "disk full")
    snap = (await pool.run(JobSpec(prompt()))).future.result()
    assert snap.state is JobState.FAILED and snap.error.kind == ErrorKind.EXECUTION_FAILED
    assert "SaveImage" in snap.error.message and "disk full" in snap.error.message
    assert "File \"" not in snap.error.message


async def test_5xx_on_submit_fails_over(pool_of):
    pool, servers = await pool_of(2)
    servers[0].fail_next_posts(5, status=500)
    servers[1].fail_next_posts(0)
    jobs = [pool.submit(JobSpec(prompt(), target=Target())) for _ in range(4)]
    snaps = [await j.future for j in jobs]
    assert all(s.state is JobState.SUCCEEDED for s in snaps), [s.error for s in snaps]
    assert any(len(s.attempts) == 2 for s in snaps)


async def test_server_killed_mid_job_fails_over_once(pool_of):
    pool, servers = await pool_of(2)
    job = pool.submit(JobSpec(prompt(ms=1500), target=Target(server=None)))
    await wait_for(lambda: job.state is JobState.RUNNING)
    victim = next(i for i, s in enumerate(servers) if f"f{i}" == job.server)
    await servers[victim].kill()
    snap = await asyncio.wait_for(job.future, 20)
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert [a.server for a in snap.attempts] == [f"f{victim}", f"f{1 - victim}"]
    assert snap.attempts[0].error.kind in (ErrorKind.CONNECTION_LOST, ErrorKind.TIMEOUT)
    await wait_for(lambda: pool.servers[f"f{victim}"].health is Health.OFFLINE)


async def test_server_restart_loses_job_and_it_is_resubmitted(pool_of):
    pool, servers = await pool_of(1)
    job = pool.submit(JobSpec(prompt(ms=1500)))
    await wait_for(lambda: job.state is JobState.RUNNING)
    await servers[0].restart()
    snap = await asyncio.wait_for(job.future, 30)
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert len(snap.attempts) == 2


async def test_websocket_drop_is_survived_on_the_same_server(pool_of):
    pool, servers = await pool_of(1)
    job = pool.submit(JobSpec(prompt(ms=800)))
    await wait_for(lambda: job.state is JobState.RUNNING)
    await servers[0].drop_websockets()
    snap = await asyncio.wait_for(job.future, 20)
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert len(snap.attempts) == 1
    assert servers[0].executed_prompt_ids.count(snap.prompt_id) == 1


async def test_hung_server_times_out_and_fails_over(pool_of):
    pool, servers = await pool_of(2, stall_timeout=0.6)
    servers[0].hang()
    job = pool.submit(JobSpec(prompt(ms=300), target=Target()))
    snap = await asyncio.wait_for(job.future, 20)
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert snap.server == "f1"


async def test_cancel_reaches_the_server(pool_of):
    pool, servers = await pool_of(1)
    job = pool.submit(JobSpec(prompt(ms=3000)))
    await wait_for(lambda: job.state is JobState.RUNNING)
    assert pool.cancel(job.id)
    snap = await asyncio.wait_for(job.future, 10)
    assert snap.state is JobState.CANCELLED
    await asyncio.sleep(0.5)
    hist = await pool.servers["f0"].client.history(snap.prompt_id)
    assert hist is None or hist["status"]["status_str"] == "error"


async def test_cancel_queued_job(pool_of):
    pool, servers = await pool_of(1)
    first = pool.submit(JobSpec(prompt(ms=1000)))
    pool.submit(JobSpec(prompt(ms=1000)))              # fills the server's second slot
    second = pool.submit(JobSpec(prompt(ms=1000)))
    await wait_for(lambda: first.state is JobState.RUNNING)
    assert second.state is JobState.QUEUED
    pool.cancel(second.id)
    assert (await second.future).state is JobState.CANCELLED
    assert (await first.future).state is JobState.SUCCEEDED


async def test_tags_and_pinning(pool_of):
    pool, servers = await pool_of(3)
    pool.servers["f2"].config.tags.append("sdxl")
    snaps = [(await pool.run(JobSpec(prompt(), target=Target(tags=("sdxl",))))).future.result() for _ in range(3)]
    assert {s.server for s in snaps} == {"f2"}
    snap = (await pool.run(JobSpec(prompt(), target=Target(server="f1")))).future.result()
    assert snap.server == "f1"
    snap = (await pool.run(JobSpec(prompt(), target=Target(tags=("flux",))))).future.result()
    assert snap.state is JobState.FAILED and snap.error.kind == ErrorKind.NO_SERVER
    assert "lacks tags flux" in snap.error.message


async def test_missing_node_type_is_not_scheduled(pool_of):
    pool, servers = await pool_of(2)
    p = prompt()
    p["3"] = {"class_type": "NoSuchNode", "inputs": {}}
    snap = (await pool.run(JobSpec(p))).future.result()
    assert snap.state is JobState.FAILED and "NoSuchNode is not installed" in snap.error.message


async def test_foreign_jobs_count_as_load(pool_of):
    pool, servers = await pool_of(2)
    servers[0].add_foreign_job(2.0)
    servers[0].add_foreign_job(2.0)
    await wait_for(lambda: pool.servers["f0"].foreign >= 1, timeout=5)
    snap = (await pool.run(JobSpec(prompt()))).future.result()
    assert snap.server == "f1"
    assert pool.servers["f0"].snapshot().foreign_queued >= 1


async def test_upload_then_use(pool_of):
    pool, servers = await pool_of(1)
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buf, "PNG")
    p = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "up/x"}},
    }
    spec = JobSpec(p, uploads=(Upload("1", "image", buf.getvalue(), "red.png"),))
    snap = (await pool.run(spec)).future.result()
    assert snap.state is JobState.SUCCEEDED, snap.error


async def test_faster_server_gets_more_work(pool_of):
    pool, servers = await pool_of(2, speeds=[1.0, 4.0])
    jobs = [pool.submit(JobSpec(prompt(ms=200))) for _ in range(20)]
    snaps = [await j.future for j in jobs]
    by = {sid: sum(1 for s in snaps if s.server == sid) for sid in ("f0", "f1")}
    assert by["f1"] > by["f0"] * 2, by


async def test_model_added_after_start_is_found(pool_of):
    pool, servers = await pool_of(2)
    p = {
        "1": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "new_x4.safetensors"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1}},
        "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["1", 0], "image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "m/x"}},
    }
    servers[1].set_models({"upscale_models": ["new_x4.safetensors"]})  # appears after the pool read the lists
    snap = (await pool.run(JobSpec(p))).future.result()
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert snap.server == "f1"
    p["1"]["inputs"]["model_name"] = "nowhere.safetensors"
    snap = (await pool.run(JobSpec(p))).future.result()
    assert snap.state is JobState.FAILED and "model file nowhere.safetensors is missing" in snap.error.message


async def test_prompt_is_built_per_server(fake_servers):
    """With JobSpec.build, each server gets the prompt built from its own node definitions."""
    from comfy_backend.errors import WorkflowError
    from comfy_backend.fake_server.catalog import default_object_info

    info = dict(default_object_info())
    without_invert = {k: v for k, v in info.items() if k != "ImageInvert"}
    a = (await fake_servers(1, object_info=without_invert, history_delay=0.01))[0]
    b = (await fake_servers(1, history_delay=0.01))[0]
    seen = []

    def build(object_info):
        seen.append("ImageInvert" in object_info)
        if "ImageInvert" not in object_info:
            raise WorkflowError("node type ImageInvert is unknown to this server")
        p = prompt()
        p["3"] = {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}
        p["2"]["inputs"]["images"] = ["3", 0]
        return p

    pool = await ServerPool(pool_config([a, b])).start()
    try:
        snap = (await pool.run(JobSpec(prompt(), build=build))).future.result()
    finally:
        await pool.close()
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert snap.server == "f1" and False in seen and True in seen
