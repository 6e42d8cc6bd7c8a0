"""The pool, the Orchestrator and the CLI against 3 real ComfyUI 0.3.75 CPU servers."""
from __future__ import annotations

import asyncio
import io
import json
import random
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from comfy_backend.config import parse_servers_config
from comfy_backend.errors import ErrorKind
from comfy_backend.events import JobEvent
from comfy_backend.jobs import JobSpec, Target, Upload
from comfy_backend.local.instances import kill_local_server, restart_local_server
from comfy_backend.models import JobState
from comfy_backend.pool import ServerPool
from comfy_backend.requests import RunRequest
from comfy_backend.runtime import Orchestrator

pytestmark = pytest.mark.real


def colour() -> int:
    return random.randint(0, 0xFFFFFF)


def invert_save(prefix: str = "rt/inv") -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": colour()}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def blur(size: int = 1024, radius: int = 31) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": colour()}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": radius, "sigma": 8.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "rt/blur"}},
    }


def config_for(urls, **defaults):
    base = {"health_interval": 0.5, "retry_backoff": 0.1}
    base.update(defaults)
    return parse_servers_config({"servers": [{"id": f"r{i}", "url": u} for i, u in enumerate(urls)], "defaults": base})


@pytest.fixture
async def real_pool(real_servers):
    pool = await ServerPool(config_for(real_servers)).start()
    yield pool
    await pool.close()


async def test_jobs_spread_and_outputs_download(real_pool, tmp_path):
    from comfy_backend.outputs import save_output

    jobs = [real_pool.submit(JobSpec(invert_save(), label=f"j{i}")) for i in range(6)]
    snaps = [await j.future for j in jobs]
    assert all(s.state is JobState.SUCCEEDED for s in snaps), [s.error for s in snaps]
    assert len({s.server for s in snaps}) >= 2
    for s in snaps:
        [ref] = s.outputs
        assert ref.subfolder == "rt" and ref.type == "output"
        path = save_output(await real_pool.fetch_output(ref), ref, tmp_path)
        assert Image.open(path).size == (64, 64)
        assert s.attempts[0].run_seconds is not None


async def test_validation_error_maps_node_and_input(real_pool):
    p = invert_save()
    p["1"]["inputs"]["width"] = 0
    snap = (await real_pool.run(JobSpec(p))).future.result()
    assert snap.state is JobState.FAILED and len(snap.attempts) == 1
    assert snap.error.kind == ErrorKind.REJECTED
    ne = snap.error.node_errors[0]
    assert ne.node_id == "1" and ne.input_name == "width" and ne.type == "value_smaller_than_min"
    assert (snap.error.node_id, snap.error.input_name) == ("1", "width")


async def test_runtime_error_is_clean(real_pool):
    p = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": colour()}},
        "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "alpha"}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "rt/err"}},
    }
    snap = (await real_pool.run(JobSpec(p))).future.result()
    assert snap.state is JobState.FAILED and snap.error.kind == ErrorKind.EXECUTION_FAILED
    assert "ImageToMask" in snap.error.message and "IndexError" in snap.error.message
    assert "File \"" not in snap.error.message and len(snap.attempts) == 1


async def test_cancel_running_job_interrupts_it(real_pool):
    job = real_pool.submit(JobSpec(blur(1536), target=Target(server="r0")))
    while job.state is not JobState.RUNNING:
        await asyncio.sleep(0.05)
    real_pool.cancel(job.id)
    snap = await asyncio.wait_for(job.future, 30)
    assert snap.state is JobState.CANCELLED
    for _ in range(100):
        hist = await real_pool.servers["r0"].client.history(snap.prompt_id)
        q = await real_pool.servers["r0"].client.queue()
        if not q["queue_running"]:
            break
        await asyncio.sleep(0.2)
    assert hist is None or hist["status"]["status_str"] == "error"


async def test_upload_and_websocket_outputs(real_pool):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(buf, "PNG")
    p = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "rt/up"}},
    }
    name = f"in-{uuid.uuid4().hex[:8]}.png"
    snap = (await real_pool.run(JobSpec(p, uploads=(Upload("1", "image", buf.getvalue(), name),)))).future.result()
    assert snap.state is JobState.SUCCEEDED, snap.error
    kinds = sorted(r.type for r in snap.outputs)
    assert kinds == ["output", "websocket"]
    ws_ref = next(r for r in snap.outputs if r.type == "websocket")
    img = Image.open(io.BytesIO(await real_pool.fetch_output(ws_ref)))
    assert img.size == (16, 16)
    assert all(abs(a - b) <= 2 for a, b in zip(img.convert("RGB").getpixel((0, 0)), (245, 55, 225)))


async def test_progress_from_tiled_upscale(real_pool):
    events = []
    real_pool.subscribe(lambda e: events.append(e) if isinstance(e, JobEvent) else None)
    p = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1, "color": colour()}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "tiny_compact_x2.safetensors"}},
        "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    snap = (await real_pool.run(JobSpec(p))).future.result()
    assert snap.state is JobState.SUCCEEDED, snap.error
    steps = [e.job.progress for e in events if e.job.id == snap.id and e.kind == "progress" and e.job.progress.max]
    assert steps and max(p.max for p in steps) >= 4
    fractions = [e.job.progress.fraction for e in events if e.job.id == snap.id]
    assert fractions == sorted(fractions) or max(fractions) == 1.0
    assert snap.outputs[0].type == "temp"


async def test_foreign_jobs_are_seen(real_servers, real_pool):
    url = real_servers[2]
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            body = {"prompt": blur(1024), "client_id": "someone-else-" + uuid.uuid4().hex}
            async with s.post(url + "/prompt", json=body) as r:
                assert r.status == 200
    server = real_pool.servers["r2"]
    await server.check_once()
    assert server.foreign >= 1
    snap = (await real_pool.run(JobSpec(invert_save()))).future.result()
    assert snap.server != "r2"
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/queue", json={"clear": True}) as r:
            assert r.status == 200
        async with s.post(url + "/interrupt", json={}) as r:
            assert r.status == 200


async def test_killed_server_job_finishes_elsewhere(real_servers, real_state_dir):
    pool = await ServerPool(config_for(real_servers)).start()
    try:
        job = pool.submit(JobSpec(blur(1536), target=Target()))
        while job.state is not JobState.RUNNING:
            await asyncio.sleep(0.05)
        idx = int(job.server[1:])
        await asyncio.to_thread(kill_local_server, idx, real_state_dir)
        snap = await asyncio.wait_for(job.future, 90)
        assert snap.state is JobState.SUCCEEDED, snap.error
        assert len(snap.attempts) == 2 and snap.attempts[1].server != f"r{idx}"
        assert snap.attempts[0].error.kind in (ErrorKind.CONNECTION_LOST, ErrorKind.TIMEOUT)
    finally:
        await pool.close()
        await asyncio.to_thread(restart_local_server, idx, real_state_dir)


def test_orchestrator_thread_and_dispatcher(real_servers):
    """Events reach a 'GUI' thread through its dispatcher; the public API works from any thread."""
    import queue as q

    inbox: q.Queue = q.Queue()
    seen_threads = set()

    def dispatcher(fn):
        inbox.put(fn)

    def on_event(e):
        seen_threads.add(threading.current_thread().name)

    with Orchestrator(config_for(real_servers)) as orch:
        orch.subscribe(on_event, dispatcher=dispatcher)
        handles = [orch.submit(RunRequest(invert_save(), label=f"t{i}")) for i in range(3)]
        while not all(h.done() for h in handles):
            try:
                inbox.get(timeout=0.1)()
            except q.Empty:
                pass
        while not inbox.empty():
            inbox.get()()
        assert all(h.result().state is JobState.SUCCEEDED for h in handles)
        assert {s.id for s in orch.servers()} == {"r0", "r1", "r2"}
    assert seen_threads == {threading.current_thread().name}


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "comfy_backend.cli.main", *args], capture_output=True, text=True, timeout=180, **kw)


def test_cli_workflow_run_json(real_servers, real_state_dir, tmp_path):
    wf = tmp_path / "wf.json"
    p = invert_save("cli/run")
    wf.write_text(json.dumps(p))
    out = tmp_path / "out"
    r = _cli("workflow", "run", str(wf), "--servers", str(real_state_dir / "servers.yaml"),
             "--count", "3", "--out", str(out), "--json", "--set", f"1.color={colour()}")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert len(report["jobs"]) == 3
    paths = [Path(p) for j in report["jobs"] for p in j["outputs"]]
    assert all(j["status"] == "succeeded" and j["attempts"] and j["prompt_id"] for j in report["jobs"])
    # no seed: identical prompts → cached → the same server file reported; saved under distinct names
    assert len(paths) == 3 and len(set(paths)) == 3 and all(out in p.parents for p in paths)


def test_cli_servers_status(real_state_dir):
    r = _cli("servers", "status", "--servers", str(real_state_dir / "servers.yaml"), "--json")
    assert r.returncode == 0, r.stderr
    servers = json.loads(r.stdout)["servers"]
    assert len(servers) == 3 and all(s["health"] in ("online", "degraded") for s in servers)
    assert all(s["vram_total"] and s["comfyui_version"] == "0.3.75" for s in servers)


@pytest.mark.parametrize("case", ["missing", "malformed", "badconfig", "unreachable", "badset", "rejected"])
def test_cli_bad_input_one_line(case, real_state_dir, tmp_path):
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(invert_save()))
    servers = str(real_state_dir / "servers.yaml")
    if case == "missing":
        args = ["workflow", "run", str(tmp_path / "nope.json"), "--servers", servers]
    elif case == "malformed":
        wf.write_text("{oops")
        args = ["workflow", "run", str(wf), "--servers", servers]
    elif case == "badconfig":
        bad = tmp_path / "s.yaml"
        bad.write_text("servers:\n  - id: x\n    url: nope\n")
        args = ["workflow", "run", str(wf), "--servers", str(bad)]
    elif case == "unreachable":
        dead = tmp_path / "s.yaml"
        dead.write_text("servers:\n  - id: x\n    url: http://127.0.0.1:9\n")
        args = ["workflow", "run", str(wf), "--servers", str(dead)]
    elif case == "badset":
        args = ["workflow", "run", str(wf), "--servers", servers, "--set", "9.width=3"]
    else:
        p = invert_save()
        p["1"]["inputs"]["width"] = -5
        wf.write_text(json.dumps(p))
        args = ["workflow", "run", str(wf), "--servers", servers]
    r = _cli(*args)
    assert r.returncode == (1 if case in ("unreachable", "rejected") else 2), r.stderr
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:") or ": failed:" in line]
    assert len(lines) == 1, r.stderr


def test_cli_runs_a_ui_workflow_converted_per_server(real_state_dir, tmp_path):
    """A UI-format workflow (as the web UI saves it) runs on every server, converted there."""
    ui = {
        "last_node_id": 3, "last_link_id": 2, "version": 0.4,
        "nodes": [
            {"id": 1, "type": "EmptyImage", "pos": [0, 0], "size": [300, 130], "flags": {}, "order": 0, "mode": 0,
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0}],
             "properties": {"Node name for S&R": "EmptyImage"}, "widgets_values": [64, 32, 1, colour()]},
            {"id": 2, "type": "ImageInvert", "pos": [350, 0], "size": [200, 30], "flags": {}, "order": 1, "mode": 0,
             "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2], "slot_index": 0}],
             "properties": {"Node name for S&R": "ImageInvert"}},
            {"id": 3, "type": "SaveImage", "pos": [600, 0], "size": [300, 270], "flags": {}, "order": 2, "mode": 0,
             "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
             "properties": {"Node name for S&R": "SaveImage"}, "widgets_values": ["cli/ui"]},
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
        "groups": [], "config": {}, "extra": {},
    }
    wf = tmp_path / "ui.json"
    wf.write_text(json.dumps(ui))
    r = _cli("workflow", "run", str(wf), "--servers", str(real_state_dir / "servers.yaml"),
             "--count", "3", "--out", str(tmp_path / "out"), "--json", "--set", "1.width=48")
    assert r.returncode == 0, r.stderr
    jobs = json.loads(r.stdout)["jobs"]
    assert [j["status"] for j in jobs] == ["succeeded"] * 3
    sizes = {Image.open(p).size for j in jobs for p in j["outputs"]}
    assert sizes == {(48, 32)}
