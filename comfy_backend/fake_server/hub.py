"""WebSocket registry and the ordered message publisher of a fake server.

Like ComfyUI's `PromptServer`, messages are queued synchronously (`send`) and a
single publish loop writes them in order; `sid=None` means every socket. The
registry maps a client id to *one* socket: a newer connection with the same id
replaces the older one, which stays open but receives nothing.
"""
from __future__ import annotations

import asyncio
import json
import logging
import struct
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

#: Binary event types (`protocol.BinaryEventTypes`).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_PNG_TYPE = 2


def encode_preview(png: bytes) -> bytes:
    """Old-style frame: uint32 1, uint32 image type (2 = PNG), image bytes."""
    return struct.pack(">II", PREVIEW_IMAGE, _PNG_TYPE) + png


def encode_preview_with_metadata(png: bytes, metadata: dict[str, Any]) -> bytes:
    """New-style frame: uint32 4, uint32 metadata length, JSON metadata, image bytes."""
    meta = json.dumps({**metadata, "image_type": "image/png"}).encode()
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + png


class Hub:
    """Open sockets, their feature flags, and the outgoing message queue."""

    def __init__(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.feature_flags: dict[str, dict[str, Any]] = {}
        self.open: dict[web.WebSocketResponse, web.BaseRequest] = {}
        self.max_open = 0
        self._queue: asyncio.Queue[tuple[bool, Any, str | None]] = asyncio.Queue()

    # ----- registry ---------------------------------------------------------
    def attach(self, sid: str, ws: web.WebSocketResponse, request: web.BaseRequest) -> None:
        self.sockets.pop(sid, None)
        self.sockets[sid] = ws
        self.feature_flags[sid] = {}
        self.open[ws] = request
        self.max_open = max(self.max_open, len(self.open))

    def detach(self, sid: str, ws: web.WebSocketResponse) -> None:
        # Faithful to 0.3.75: the id is popped even if a newer socket now owns it,
        # so closing an old duplicate silences the new one too.
        self.sockets.pop(sid, None)
        self.feature_flags.pop(sid, None)
        self.open.pop(ws, None)

    def supports_preview_metadata(self, sid: str | None) -> bool:
        return sid is not None and bool(self.feature_flags.get(sid, {}).get("supports_preview_metadata"))

    # ----- sending ----------------------------------------------------------
    def send(self, event: str, data: Any, sid: str | None = None) -> None:
        """Queue a JSON message `{"type": event, "data": data}` (serialized now)."""
        self._queue.put_nowait((False, json.dumps({"type": event, "data": data}), sid))

    def send_bytes(self, payload: bytes, sid: str | None = None) -> None:
        self._queue.put_nowait((True, payload, sid))

    async def publish_loop(self) -> None:
        while True:
            binary, payload, sid = await self._queue.get()
            if sid is None:
                targets = list(self.sockets.values())
            else:
                ws = self.sockets.get(sid)
                targets = [ws] if ws is not None else []
            for ws in targets:
                if ws.closed:
                    continue
                try:
                    if binary:
                        await ws.send_bytes(payload)
                    else:
                        await ws.send_str(payload)
                except (ConnectionError, RuntimeError) as err:
                    log.debug("fake comfy: send error %s", err)

    async def drain(self) -> None:
        """Wait until everything queued so far has been handed to the sockets."""
        while not self._queue.empty():
            await asyncio.sleep(0.001)

    # ----- dropping connections ---------------------------------------------
    async def close_all(self, *, abrupt: bool) -> None:
        """Close every open socket: with a close frame, or by aborting the TCP connection."""
        async def close(ws: web.WebSocketResponse, request: web.BaseRequest) -> None:
            if not abrupt:
                try:
                    await asyncio.wait_for(ws.close(code=1001, message=b"server going away"), 1.0)
                    return
                except (TimeoutError, ConnectionError, RuntimeError):
                    pass
            if request.transport is not None:
                request.transport.abort()

        await asyncio.gather(*(close(ws, req) for ws, req in list(self.open.items())))
