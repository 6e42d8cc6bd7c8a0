"""Fake server: fault controls, speed and scale."""
from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from comfy_backend.fake_server import FakeComfyServer
from tests.fake_server.helpers import blur_chain, blur_cost, connect, get_json, post
from tests.fake_server.shapes import drain, invert_save, receive_until_done, run_prompt, type_sequence
from tests.fake_server.shapes import kind_of as kind


# ----- faults ------------------------------------------------------------------------------------------------------
async def test_fail_node(fake, session):
    fake.fail_node("ImageInvert", "CUDA out of memory", exception_type="torch.OutOfMemoryError", times=1)
    ws = await connect(session, fake, "orch-f")
    _, messages, history = await run_prompt(session, fake.url, invert_save(12), "orch-f", ws)
    error = next(m["data"] for m in messages if kind(m) == "execution_error")
    assert (error["node_id"], error["node_type"], error["exception_type"], error["exception_message"]) == (
        "2", "ImageInvert", "torch.OutOfMemoryError", "CUDA out of memory\n")
    assert next(iter(history.values()))["status"]["status_str"] == "error"
    _, messages, _ = await run_prompt(session, fake.url, invert_save(13), "orch-f", ws)
    assert "execution_success" in type_sequence(messages)


async def test_fail_next_posts(fake, session):
    fake.fail_next_posts(2, status=503)
    assert (await post(session, fake, {"prompt": invert_save(1)}))[0] == 503
    assert (await post(session, fake, {"prompt": invert_save(1)}))[0] == 503
    status, body = await post(session, fake, {"prompt": invert_save(1)})
    assert status == 200 and body["number"] == 0
    fake.fail_next_posts(1, enqueue=True)  # queued, but the answer is lost
    assert (await post(session, fake, {"prompt": invert_save(2), "prompt_id": "lost-answer"}))[0] == 500
    await fake.wait_idle()
    assert fake.executed_prompt_ids == [body["prompt_id"], "lost-answer"]
    assert fake.posts == 4


async def test_hang_and_unhang(fake, session):
    ws = await connect(session, fake, "orch-h")
    fake.hang()
    status, body = await post(session, fake, {"prompt": invert_save(14), "client_id": "orch-h"})
    await asyncio.sleep(0.2)
    assert set(type_sequence(await drain(ws))) <= {"status"}
    queue = await get_json(session, fake, "/queue")  # HTTP still answers
    assert [q[1] for q in queue["queue_running"]] == [body["prompt_id"]]
    fake.unhang()
    messages = await receive_until_done(ws, body["prompt_id"])
    assert "execution_success" in type_sequence(messages)


async def test_drop_websockets_mid_job(session):
    async with FakeComfyServer(history_delay=0.01, node_cost=blur_cost(0.1)) as fake:
        ws = await connect(session, fake, "orch-d")
        status, body = await post(session, fake, {"prompt": blur_chain(15), "client_id": "orch-d"})
        await ws.receive_json(timeout=2)
        assert await fake.drop_websockets() == 1
        assert (await until_closed(ws)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        ws = await connect(session, fake, "orch-d")
        await receive_until_done(ws, body["prompt_id"])
        assert body["prompt_id"] in await get_json(session, fake, f"/history/{body['prompt_id']}")
        ws2 = await connect(session, fake, "orch-d2")
        assert await fake.drop_websockets(abrupt=True) == 2
        assert (await until_closed(ws2)).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert (await get_json(session, fake, "/prompt"))["exec_info"]["queue_remaining"] == 0


async def until_closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Skip queued messages up to the end of the socket; returns the closing message."""
    while True:
        msg = await ws.receive(timeout=2)
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return msg


async def test_kill_and_restart(session):
    fake = FakeComfyServer(history_delay=0.01, node_cost=blur_cost(0.2))
    await fake.start()
    try:
        ws = await connect(session, fake, "orch-k")
        await run_prompt(session, fake.url, invert_save(16, prefix="persist"), "orch-k", ws)
        status, body = await post(session, fake, {"prompt": blur_chain(17), "client_id": "orch-k"})
        await asyncio.sleep(0.05)
        port = fake.port
        await fake.kill()
        assert (await until_closed(ws)).type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(fake.url + "/system_stats") as r:
                await r.read()
        assert fake.executions[-1].status == "lost"

        await fake.restart()
        assert fake.port == port
        assert await get_json(session, fake, "/history") == {}
        assert await get_json(session, fake, "/queue") == {"queue_running": [], "queue_pending": []}
        ws = await connect(session, fake, "orch-k")
        body, messages, _ = await run_prompt(session, fake.url, invert_save(18, prefix="persist"), "orch-k", ws)
        assert body["number"] == 0
        executed = next(m for m in messages if kind(m) == "executed")
        assert executed["data"]["output"]["images"][0]["filename"] == "persist_00002_.png"
    finally:
        await fake.stop()


async def test_set_speed(session):
    async with FakeComfyServer(history_delay=0.0, node_cost=blur_cost(0.3)) as fake:
        fake.set_speed(30)
        t = time.monotonic()
        await post(session, fake, {"prompt": blur_chain(19)})
        await fake.wait_idle()
        assert time.monotonic() - t < 0.3


async def test_prompt_cost_override(session):
    async with FakeComfyServer(history_delay=0.0, cost=lambda p: p["1"]["inputs"]["width"] / 1000) as fake:
        t = time.monotonic()
        await post(session, fake, {"prompt": invert_save(20, size=300)})
        await fake.wait_idle()
        assert 0.28 < time.monotonic() - t < 1.0


async def test_foreign_job_is_visible_but_silent(fake, session):
    ui_id = uuid.uuid4().hex
    ui = await connect(session, fake, ui_id)
    mine = await connect(session, fake, "orch-me")
    foreign = fake.add_foreign_job(0.3, client_id=ui_id)
    await asyncio.sleep(0.05)
    queue = await get_json(session, fake, "/queue")
    assert queue["queue_running"][0][1] == foreign and queue["queue_running"][0][3]["client_id"] == ui_id
    status, body = await post(session, fake, {"prompt": invert_save(21), "client_id": "orch-me"})
    assert (await get_json(session, fake, "/prompt"))["exec_info"]["queue_remaining"] == 2
    mine_msgs = await receive_until_done(mine, body["prompt_id"])
    before_mine = mine_msgs[:type_sequence(mine_msgs, collapse=()).index("execution_start")]
    assert {kind(m) for m in before_mine} == {"status"}
    assert "executing" in type_sequence(await receive_until_done(ui, foreign))


# ----- scale --------------------------------------------------------------------------------------------------------
async def test_ten_servers_hundred_jobs_each(session):
    servers = [FakeComfyServer(speed=10, history_delay=0.0) for _ in range(10)]
    for s in servers:
        await s.start()
    try:
        t0 = time.monotonic()

        async def drive(i: int, server: FakeComfyServer) -> int:
            ws = await connect(session, server, f"orch-{i}")
            ids = set()
            for j in range(100):
                ids.add((await post(session, server, {"prompt": invert_save(i * 1000 + j), "client_id": f"orch-{i}"}))[1]["prompt_id"])
            done = 0
            while done < 100:
                msg = await ws.receive_json(timeout=10)
                if msg["type"] == "executing" and msg["data"]["node"] is None and msg["data"]["prompt_id"] in ids:
                    done += 1
            return done

        results = await asyncio.gather(*(drive(i, s) for i, s in enumerate(servers)))
        elapsed = time.monotonic() - t0
        print(f"\n10 fake servers x 100 jobs: {elapsed:.2f} s")
        assert results == [100] * 10
        assert all(len(s.executed_prompt_ids) == 100 for s in servers)
        assert elapsed < 30
    finally:
        for s in servers:
            await s.stop()


async def test_a_raising_cost_function_does_not_stop_the_server(session, caplog):
    calls = []

    def cost(prompt):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("bad cost")
        return 0.001

    async with FakeComfyServer(history_delay=0.0, cost=cost) as fake:
        first = (await post(session, fake, {"prompt": invert_save(23)}))[1]["prompt_id"]
        second = (await post(session, fake, {"prompt": invert_save(24)}))[1]["prompt_id"]
        await fake.wait_idle()
        assert fake.history[first]["status"]["status_str"] == "error"
        assert fake.history[second]["status"]["status_str"] == "success"
        assert "bad cost" in caplog.text
