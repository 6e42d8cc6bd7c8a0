"""Helpers of the fake-server tests: a socket per client id, requests, slow prompts, PNGs."""
from __future__ import annotations

import io
import json

import aiohttp
from PIL import Image

from comfy_backend.fake_server import FakeComfyServer


async def connect(session: aiohttp.ClientSession, server: FakeComfyServer, client_id: str | None = None,
                  flags: bool = False) -> aiohttp.ClientWebSocketResponse:
    url = f"{server.url}/ws" + (f"?clientId={client_id}" if client_id else "")
    ws = await session.ws_connect(url)
    first = await ws.receive_json(timeout=2)
    assert first["type"] == "status"
    if flags:
        await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        reply = await ws.receive_json(timeout=2)
        assert reply == {"type": "feature_flags",
                         "data": {"supports_preview_metadata": True, "max_upload_size": 104857600}}
    return ws


async def post(session, server, body, path="/prompt"):
    async with session.post(server.url + path, json=body) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text and r.content_type == "application/json" else text)


async def get_json(session, server, path, **params):
    async with session.get(server.url + path, params=params) as r:
        assert r.status == 200, (path, r.status)
        return await r.json()


def blur_chain(color: int, blurs: int = 3) -> dict:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}}}
    for i in range(blurs):
        prompt[str(i + 2)] = {"class_type": "ImageBlur",
                              "inputs": {"image": [str(i + 1), 0], "blur_radius": 31, "sigma": 3.0}}
    prompt["99"] = {"class_type": "SaveImage", "inputs": {"images": [str(blurs + 1), 0], "filename_prefix": "demo_slow"}}
    return prompt


def blur_cost(seconds: float):
    return lambda node_id, prompt: seconds if prompt[node_id]["class_type"] == "ImageBlur" else 0.001


def png_bytes(color=(10, 20, 30), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()

