"""The fake ComfyUI server against the recorded behaviour of ComfyUI 0.3.75 (plain aiohttp)."""
from __future__ import annotations

import asyncio
import io
import json
import struct

import aiohttp
import pytest
from PIL import Image

from comfy_backend.fake_server import FakeComfyServer
from tests.fake_server import shapes
from tests.fake_server.helpers import blur_chain, blur_cost, connect, get_json, png_bytes, post
from tests.fake_server.shapes import (
    captured_messages,
    data_keys,
    drain,
    history_shape,
    invert_save,
    load_capture,
    preview,
    receive_until_done,
    run_prompt,
    runtime_error,
    strip_tracebacks,
    type_sequence,
)


# ----- message sequences vs captures ------------------------------------------------------------
async def test_trivial_prompt_matches_capture(fake, session):
    ws = await connect(session, fake, "orch-1")
    body, messages, history = await run_prompt(session, fake.url, invert_save(3368652), "orch-1", ws)
    captured = captured_messages("runs/invert_save.ws_messages.json")
    assert type_sequence(messages, collapse=()) == type_sequence(captured, collapse=())
    assert data_keys(messages, collapse=()) == data_keys(captured, collapse=())
    assert shapes.shape(messages) == shapes.shape(captured)
    assert sorted(body) == sorted(load_capture("runs/invert_save.post_prompt.json")["response"])
    assert history_shape(history) == history_shape(load_capture("runs/invert_save.history.json"))
    executed = next(m for m in messages if m["type"] == "executed")
    assert executed["data"]["output"] == {"images": [{"filename": "invert_00001_.png", "subfolder": "demo",
                                                      "type": "output"}]}
    # cumulative progress_state, all finished at the end
    last_state = [m for m in messages if m["type"] == "progress_state"][-1]["data"]["nodes"]
    assert {k: v["state"] for k, v in last_state.items()} == {"1": "finished", "2": "finished", "3": "finished"}


async def test_identical_prompt_is_fully_cached(fake, session):
    ws = await connect(session, fake, "orch-1")
    await run_prompt(session, fake.url, invert_save(1234), "orch-1", ws)
    files_before = fake.files.names("output", "demo")
    _, messages, history = await run_prompt(session, fake.url, invert_save(1234), "orch-1", ws)
    captured = captured_messages("runs/invert_save_cached.ws_messages.json")
    assert data_keys(messages, collapse=()) == data_keys(captured, collapse=())
    cached = next(m for m in messages if m["type"] == "execution_cached")
    assert cached["data"]["nodes"] == ["1", "2", "3"]
    assert fake.files.names("output", "demo") == files_before == ["invert_00001_.png"]
    assert history_shape(history) == history_shape(load_capture("runs/invert_save_cached.history.json"))
    # a changed input runs again and continues the counter
    _, messages, _ = await run_prompt(session, fake.url, invert_save(4321), "orch-1", ws)
    executed = next(m for m in messages if m["type"] == "executed")
    assert executed["data"]["output"]["images"][0]["filename"] == "invert_00002_.png"


async def test_preview_image_matches_capture(fake, session):
    ws = await connect(session, fake, "orch-1")
    _, messages, history = await run_prompt(session, fake.url, preview(16746496), "orch-1", ws)
    assert data_keys(messages, collapse=()) == data_keys(captured_messages("runs/preview.ws_messages.json"), collapse=())
    images = next(iter(history.values()))["outputs"]["2"]["images"]
    assert [i["type"] for i in images] == ["temp", "temp"]
    assert images[0]["filename"].startswith("ComfyUI_temp_") and images[0]["filename"].endswith("_00001_.png")
    assert images[1]["filename"].endswith("_00002_.png")
    assert history_shape(history) == history_shape(load_capture("runs/preview.history.json"))


async def test_runtime_error_matches_capture(fake, session):
    ws = await connect(session, fake, "orch-1")
    _, messages, history = await run_prompt(session, fake.url, runtime_error(0), "orch-1", ws)
    captured = captured_messages("runs/runtime_error.ws_messages.json")
    assert type_sequence(messages) == type_sequence(captured)
    assert data_keys(messages) == data_keys(captured)
    error = next(m for m in messages if m["type"] == "execution_error")["data"]
    real = load_capture("execution_error_ws_message.json")["data"]
    assert sorted(error) == sorted(real)
    for key in ("node_id", "node_type", "executed", "exception_message", "exception_type"):
        assert error[key] == real[key], key
    assert history_shape(history) == history_shape(load_capture("runs/runtime_error.history.json"))


async def test_saveimagewebsocket_binary_frames(fake, session):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 6, "color": 5}},
              "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}}
    old = await connect(session, fake, "orch-old")
    _, messages, history = await run_prompt(session, fake.url, prompt, "orch-old", old)
    captured = captured_messages("runs/saveimagewebsocket.ws_messages.json")
    assert type_sequence(messages, collapse=()) == type_sequence(captured, collapse=())
    assert [m["data"]["value"] for m in messages if kind(m) == "progress"] == [0, 1, 2, 3, 4, 5]
    frame = next(m for m in messages if isinstance(m, bytes))
    assert struct.unpack(">II", frame[:8]) == (1, 2) and frame[8:16] == b"\x89PNG\r\n\x1a\n"
    assert next(iter(history.values()))["outputs"] == {}

    new = await connect(session, fake, "orch-new", flags=True)
    _, messages, _ = await run_prompt(session, fake.url, prompt, "orch-new", new)
    captured = captured_messages("runs/saveimagewebsocket_preview_metadata.ws_messages.json")
    assert type_sequence(messages, collapse=()) == type_sequence(captured, collapse=())
    frame = next(m for m in messages if isinstance(m, bytes))
    (event, meta_len), = [struct.unpack(">II", frame[:8])]
    meta = json.loads(frame[8:8 + meta_len])
    assert event == 4 and sorted(meta) == ["display_node_id", "image_type", "node_id", "parent_node_id",
                                           "prompt_id", "real_node_id"]
    assert frame[8 + meta_len:8 + meta_len + 8] == b"\x89PNG\r\n\x1a\n"


def kind(m):
    return shapes.kind_of(m)


async def test_sampler_progress_and_interrupt_at_tick(session):
    async with FakeComfyServer(history_delay=0.01, models={"checkpoints": ["fake.safetensors"]},
                               node_cost=lambda n, p: 0.2 if p[n]["class_type"] == "KSampler" else 0.001) as fake:
        prompt = {
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "fake.safetensors"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "b", "clip": ["4", 1]}},
            "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 5, "cfg": 7.0, "sampler_name": "euler",
                                                      "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                      "positive": ["6", 0], "negative": ["7", 0],
                                                      "latent_image": ["5", 0]}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "k"}},
        }
        ws = await connect(session, fake, "orch-k")
        _, messages, _ = await run_prompt(session, fake.url, prompt, "orch-k", ws)
        ticks = [m["data"] for m in messages if kind(m) == "progress"]
        assert [(t["value"], t["max"], t["node"]) for t in ticks] == [(i, 5, "3") for i in range(1, 6)]

        prompt["3"]["inputs"]["seed"] = 2
        status, body = await post(session, fake, {"prompt": prompt, "client_id": "orch-k"})
        got = []
        while not any(kind(m) == "progress" for m in got):
            got.append(await ws.receive_json(timeout=2))
        await post(session, fake, {"prompt_id": body["prompt_id"]}, "/interrupt")
        got += await receive_until_done(ws, body["prompt_id"])
        stop = next(m["data"] for m in got if kind(m) == "execution_interrupted")
        assert stop["node_id"] == "3" and stop["node_type"] == "KSampler"
        assert type_sequence(got)[-3:] == ["execution_interrupted", "status", "executing"]


# ----- history race ---------------------------------------------------------------------------------
async def test_history_is_written_after_execution_success(session):
    async with FakeComfyServer(history_delay=0.2) as fake:
        ws = await connect(session, fake, "orch-race")
        status, body = await post(session, fake, {"prompt": invert_save(77), "client_id": "orch-race"})
        pid = body["prompt_id"]
        while True:
            msg = await ws.receive_json(timeout=5)
            if msg["type"] == "execution_success":
                assert await get_json(session, fake, f"/history/{pid}") == {}
            if msg["type"] == "executing" and msg["data"]["node"] is None:
                assert pid in await get_json(session, fake, f"/history/{pid}")
                break


# ----- validation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in load_capture("post_prompt_invalid_400.json") if c != "not_json_body"])
async def test_invalid_prompts_match_capture(fake, session, case):
    captured = load_capture("post_prompt_invalid_400.json")[case]
    body = {"client_id": "orch-v"} if case == "no_prompt_key" else {"prompt": captured["request_prompt"],
                                                                      "client_id": "orch-v"}
    status, answer = await post(session, fake, body)
    assert status == captured["status"] == 400
    assert strip_tracebacks(answer) == strip_tracebacks(captured["response"])
    assert shapes.shape(answer) == shapes.shape(captured["response"])


async def test_non_json_body_is_a_plain_500(fake, session):
    async with session.post(fake.url + "/prompt", data=b"{not json") as r:
        captured = load_capture("post_prompt_invalid_400.json")["not_json_body"]
        assert r.status == 500
        assert r.headers["Content-Type"] == captured["ctype"]
        assert await r.text() == captured["body"]


async def test_number_counts_every_post_and_prompt_id_is_used_as_given(fake, session):
    await post(session, fake, {"prompt": {}})                       # rejected: number 0
    await post(session, fake, {"client_id": "x"})                   # no prompt: number 1
    pid = "my-own-id"
    status, body = await post(session, fake, {"prompt": invert_save(5), "prompt_id": pid})
    assert status == 200 and body == {"prompt_id": pid, "number": 2, "node_errors": {}}
    await fake.wait_idle()
    assert list(await get_json(session, fake, f"/history/{pid}")) == [pid]
    assert fake.posts == 3


async def test_partially_valid_prompt_runs_good_outputs(fake, session):
    prompt = invert_save(8)
    prompt["9"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}  # filename_prefix missing
    status, body = await post(session, fake, {"prompt": prompt})
    assert status == 200
    assert body["node_errors"]["9"]["errors"][0]["type"] == "required_input_missing"
    await fake.wait_idle()
    entry = next(iter(fake.history.values()))
    assert entry["prompt"][4] == ["3"]


# ----- queue control ----------------------------------------------------------------------------------------
async def test_queue_delete_clear_and_interrupts(session):
    async with FakeComfyServer(history_delay=0.01, node_cost=blur_cost(0.15)) as fake:
        ws = await connect(session, fake, "orch-q")
        ids = []
        for i in range(4):
            status, body = await post(session, fake, {"prompt": blur_chain(1000 + i), "client_id": "orch-q"})
            ids.append(body["prompt_id"])
        await asyncio.sleep(0.05)
        queue = await get_json(session, fake, "/queue")
        assert [q[1] for q in queue["queue_running"]] == ids[:1]
        assert [q[1] for q in queue["queue_pending"]] == ids[1:]
        assert len(queue["queue_running"][0]) == 5 and sorted(queue["queue_running"][0][3]) == ["client_id", "create_time"]
        assert await get_json(session, fake, "/prompt") == {"exec_info": {"queue_remaining": 4}}

        assert (await post(session, fake, {"delete": [ids[1]]}, "/queue"))[0] == 200
        assert [q[1] for q in (await get_json(session, fake, "/queue"))["queue_pending"]] == ids[2:]
        await post(session, fake, {"prompt_id": ids[2]}, "/interrupt")   # not running: no effect
        await post(session, fake, {"prompt_id": ids[0]}, "/interrupt")
        first = await receive_until_done(ws, ids[0])
        assert type_sequence(first)[-4:] == ["executing", "execution_interrupted", "status", "executing"]
        stop = next(m["data"] for m in first if kind(m) == "execution_interrupted")
        assert sorted(stop) == ["executed", "node_id", "node_type", "prompt_id", "timestamp"]

        await asyncio.sleep(0.05)
        assert (await post(session, fake, {"clear": True}, "/queue"))[0] == 200
        queue = await get_json(session, fake, "/queue")
        assert [q[1] for q in queue["queue_running"]] == [ids[2]] and queue["queue_pending"] == []
        await post(session, fake, {}, "/interrupt")
        await receive_until_done(ws, ids[2])

        h0 = await get_json(session, fake, f"/history/{ids[0]}")
        real = load_capture("queue_ops.json")["history_interrupted"]
        assert history_shape(h0) == history_shape(real)
        assert await get_json(session, fake, f"/history/{ids[1]}") == {}
        assert await get_json(session, fake, f"/history/{ids[3]}") == {}
        assert (await get_json(session, fake, f"/history/{ids[2]}"))[ids[2]]["status"]["status_str"] == "error"
        assert fake.executed_prompt_ids == [ids[0], ids[2]]


async def test_front_and_number_order(session):
    async with FakeComfyServer(history_delay=0.0, node_cost=blur_cost(0.1)) as fake:
        a = (await post(session, fake, {"prompt": blur_chain(1, 1)}))[1]["prompt_id"]
        b = (await post(session, fake, {"prompt": blur_chain(2, 1)}))[1]["prompt_id"]
        c = (await post(session, fake, {"prompt": blur_chain(3, 1), "front": True}))[1]["prompt_id"]
        await fake.wait_idle()
        assert fake.executed_prompt_ids == [a, c, b]


async def test_history_delete_and_clear(fake, session):
    ids = [(await post(session, fake, {"prompt": invert_save(i)}))[1]["prompt_id"] for i in range(3)]
    await fake.wait_idle()
    assert list(await get_json(session, fake, "/history", max_items=2)) == ids[1:]
    await post(session, fake, {"delete": [ids[0]]}, "/history")
    assert list(await get_json(session, fake, "/history")) == ids[1:]
    await post(session, fake, {"clear": True}, "/history")
    assert await get_json(session, fake, "/history") == {}


# ----- who receives what ----------------------------------------------------------------------------------------
async def test_duplicate_client_id_takes_over(fake, session):
    first = await connect(session, fake, "orch-dup")
    second = await connect(session, fake, "orch-dup")
    other = await connect(session, fake, "orch-other")
    _, messages, _ = await run_prompt(session, fake.url, invert_save(9), "orch-dup", second)
    assert "executed" in type_sequence(messages)
    assert await drain(first) == [] and not first.closed
    assert set(type_sequence(await drain(other))) == {"status"}
    assert fake.max_concurrent_ws == 3


async def test_closing_superseded_duplicate_detaches_the_newer_socket(fake, session):
    # As in 0.3.75 (server.py pops the id when *any* socket with that id closes).
    first = await connect(session, fake, "orch-dup")
    second = await connect(session, fake, "orch-dup")
    await first.close()
    await asyncio.sleep(0.05)
    await post(session, fake, {"prompt": invert_save(10), "client_id": "orch-dup"})
    await fake.wait_idle()
    assert await drain(second) == []


async def test_prompt_without_client_id(fake, session):
    main = await connect(session, fake, "orch-main")
    anon = await connect(session, fake)
    status, body = await post(session, fake, {"prompt": invert_save(11)})
    await fake.wait_idle()
    for ws in (main, anon):
        assert set(type_sequence(await drain(ws))) == {"status", "progress_state"}
    entry = (await get_json(session, fake, f"/history/{body['prompt_id']}"))[body["prompt_id"]]
    assert sorted(entry["prompt"][3]) == ["create_time"]
    assert [m[0] for m in entry["status"]["messages"]] == ["execution_start", "execution_cached", "execution_success"]


async def test_reconnect_mid_node_gets_current_node(session):
    async with FakeComfyServer(history_delay=0.01, node_cost=blur_cost(0.3)) as fake:
        ws = await connect(session, fake, "orch-r")
        status, body = await post(session, fake, {"prompt": blur_chain(22, 1), "client_id": "orch-r"})
        while (await ws.receive_json(timeout=2)) != {"type": "executing", "data": {
                "node": "2", "display_node": "2", "prompt_id": body["prompt_id"]}}:
            pass
        await ws.close()
        again = await session.ws_connect(f"{fake.url}/ws?clientId=orch-r")
        assert (await again.receive_json(timeout=2))["data"]["sid"] == "orch-r"
        assert await again.receive_json(timeout=2) == {"type": "executing", "data": {"node": "2"}}
        await receive_until_done(again, body["prompt_id"])


async def test_ws_without_client_id_gets_hex_sid(fake, session):
    ws = await session.ws_connect(f"{fake.url}/ws")
    first = await ws.receive_json(timeout=2)
    assert first["data"]["status"] == {"exec_info": {"queue_remaining": 0}}
    sid = first["data"]["sid"]
    assert len(sid) == 32 and int(sid, 16) >= 0


# ----- files -----------------------------------------------------------------------------------------------------
async def upload(session, server, data, name, **fields):
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name, content_type="image/png")
    for k, v in fields.items():
        form.add_field(k, v)
    async with session.post(server.url + "/upload/image", data=form) as r:
        return r.status, (await r.json() if r.status == 200 else None)


async def test_upload_view_round_trip_and_collisions(fake, session):
    a, b = png_bytes((1, 2, 3)), png_bytes((4, 5, 6))
    assert await upload(session, fake, a, "demo_upload.png") == (200, {"name": "demo_upload.png", "subfolder": "", "type": "input"})
    assert await upload(session, fake, a, "demo_upload.png") == (200, {"name": "demo_upload.png", "subfolder": "", "type": "input"})
    assert (await upload(session, fake, b, "demo_upload.png"))[1]["name"] == "demo_upload (1).png"
    assert (await upload(session, fake, b, "demo_upload.png", overwrite="true"))[1]["name"] == "demo_upload.png"
    assert (await upload(session, fake, a, "demo_upload.png", subfolder="sub1"))[1] == {
        "name": "demo_upload.png", "subfolder": "sub1", "type": "input"}
    assert (await upload(session, fake, a, "x.png", subfolder="../etc"))[0] == 400

    async with session.get(fake.url + "/api/view", params={"filename": "demo_upload.png", "subfolder": "sub1",
                                                           "type": "input"}) as r:
        assert r.status == 200 and r.content_type == "image/png" and await r.read() == a
        assert r.headers["Content-Disposition"] == 'filename="demo_upload.png"'
    for params, code in [({"filename": "demo_upload.png", "type": "input", "subfolder": "nope"}, 404),
                         ({"filename": "nope.png", "type": "input"}, 404),
                         ({"filename": "../x.png", "type": "output"}, 400)]:
        async with session.get(fake.url + "/view", params=params) as r:
            assert r.status == code, params
    info = await get_json(session, fake, "/object_info/LoadImage")
    assert info["LoadImage"]["input"]["required"]["image"][0] == ["demo_upload (1).png", "demo_upload.png"]

    ws = await connect(session, fake, "orch-load")
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "sub1/demo_upload.png"}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "demo_load"}}}
    _, messages, history = await run_prompt(session, fake.url, prompt, "orch-load", ws)
    out = next(iter(history.values()))["outputs"]["2"]["images"][0]
    async with session.get(fake.url + "/view", params=out) as r:
        data = await r.read()
        assert r.status == 200 and data.startswith(b"\x89PNG")
    async with session.get(fake.url + "/view", params={**out, "preview": "webp;50"}) as r:
        assert r.content_type == "image/webp"
    assert Image.open(io.BytesIO(data)).text["prompt"]  # SaveImage embeds the prompt


async def test_origin_check(fake, session):
    host = fake.url.split("//")[1]
    async with session.post(fake.url + "/prompt", json={"prompt": invert_save(1)},
                            headers={"Origin": "http://localhost:9999"}) as r:
        assert r.status == 403 and await r.read() == b""
    async with session.get(fake.url + "/system_stats", headers={"Origin": "http://example.invalid"}) as r:
        assert r.status == 403
    async with session.options(fake.url + "/prompt", headers={"Origin": "http://localhost:9999"}) as r:
        assert r.status == 403
    async with session.get(fake.url + "/system_stats", headers={"Origin": f"http://{host}"}) as r:
        assert r.status == 200


async def test_basic_gets(fake, session):
    stats = await get_json(session, fake, "/api/system_stats")
    assert shapes.shape(stats) == shapes.shape(load_capture("system_stats.json"))
    assert await get_json(session, fake, "/features") == {"supports_preview_metadata": True, "max_upload_size": 104857600}
    assert len(await get_json(session, fake, "/models")) == 21
    assert await get_json(session, fake, "/models/upscale_models") == ["tiny_compact_x2.safetensors"]
    async with session.get(fake.url + "/models/nope") as r:
        assert r.status == 404
    assert await get_json(session, fake, "/object_info/NoSuchNode") == {}
    assert len(await get_json(session, fake, "/object_info")) == 398
    assert await get_json(session, fake, "/embeddings") == []
    assert await get_json(session, fake, "/extensions") == []
    async with session.get(fake.url + "/api/jobs") as r:
        assert r.status == 404
    fake.set_vram(total=8 << 30, free=1 << 30)
    dev = (await get_json(session, fake, "/system_stats"))["devices"][0]
    assert (dev["vram_total"], dev["vram_free"]) == (8 << 30, 1 << 30)
