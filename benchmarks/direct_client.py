"""The baseline for the overhead benchmark: the least code that runs one prompt on ComfyUI.

One aiohttp session, one WebSocket with its own clientId, POST /prompt, wait for
``executing`` with ``node: null`` for the prompt, then GET /history/{id}.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp


class DirectClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> DirectClient:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.ws and self.session
        await self.ws.close()
        await self.session.close()

    async def run(self, prompt: dict[str, Any]) -> dict[str, Any]:
        """Submit and return the history entry's outputs."""
        assert self.ws and self.session
        pid = str(uuid.uuid4())
        async with self.session.post(self.url + "/prompt", json={"prompt": prompt, "client_id": self.client_id, "prompt_id": pid}) as r:
            r.raise_for_status()
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            m = json.loads(msg.data)
            d = m.get("data") or {}
            if m.get("type") == "executing" and d.get("node") is None and d.get("prompt_id") == pid:
                break
        async with self.session.get(self.url + f"/history/{pid}") as r:
            outputs: dict[str, Any] = (await r.json())[pid]["outputs"]
            return outputs
