"""EventStream: the WebSocket of one server, as one object with a receive loop.

It connects with our own ``clientId`` (so execution events for our prompts
come to us and never steal the web UI's), announces preview metadata support,
reconnects with backoff, and routes each message to the tracker of the prompt it
names. Server-wide messages (``status``) go to a callback. ``generation``
increases on every (re)connect so trackers know when they may have missed
messages and must check by polling.
"""
from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from .client import ComfyClient
    from .tracking import PromptTracker

log = logging.getLogger(__name__)

_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# aiohttp pings this often and drops the socket when no pong comes within half of it: a
# stopped (SIGSTOP) or wedged server is noticed within a few seconds, not at the next message.
WS_HEARTBEAT_S = 4.0


def decode_binary_frame(frame: bytes) -> tuple[dict[str, Any], bytes] | None:
    """Decode a ComfyUI binary frame into (metadata, image bytes).

    Type 1: ``uint32 1, uint32 image_type (1 JPEG, 2 PNG), bytes``.
    Type 4: ``uint32 4, uint32 metadata_len, JSON metadata, bytes``.
    """
    if len(frame) < 8:
        return None
    (event_type,) = struct.unpack(">I", frame[:4])
    if event_type == 1:
        (image_type,) = struct.unpack(">I", frame[4:8])
        mime = {1: "image/jpeg", 2: "image/png"}.get(image_type, "application/octet-stream")
        return {"image_type": mime}, frame[8:]
    if event_type == 4:
        (mlen,) = struct.unpack(">I", frame[4:8])
        try:
            meta = json.loads(frame[8 : 8 + mlen])
        except ValueError:
            return None
        return meta if isinstance(meta, dict) else {}, frame[8 + mlen :]
    return None


class EventStream:
    """The receive loop of one server's WebSocket."""

    def __init__(
        self,
        client: ComfyClient,
        *,
        on_status: Callable[[int], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        self.on_status = on_status
        self.on_connection = on_connection
        self.trackers: dict[str, PromptTracker] = {}
        self.connected = asyncio.Event()
        self.generation = 0
        self.last_message = 0.0
        self.down_since: float | None = time.monotonic()  # None while connected
        self.queue_remaining: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._close_tasks: set[asyncio.Task[bool]] = set()
        self._closing = False
        # For type-1 frames (no metadata) we attribute images to the prompt running now.
        self._running_prompt: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ws:{self.client.id}")

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    def down_for(self) -> float:
        """Seconds the socket has been down (0 while connected)."""
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def kick(self) -> None:
        """Drop the current connection (e.g. after a failed health check); the loop reconnects."""
        if self._ws is not None and not self._ws.closed:
            task = asyncio.create_task(self._ws.close())
            self._close_tasks.add(task)  # kept alive until done
            task.add_done_callback(self._close_tasks.discard)

    def track(self, tracker: PromptTracker) -> None:
        self.trackers[tracker.prompt_id] = tracker

    def untrack(self, prompt_id: str) -> None:
        self.trackers.pop(prompt_id, None)
        if self._running_prompt == prompt_id:
            self._running_prompt = None

    async def _run(self) -> None:
        failures = 0
        url = self.client.config.ws_url
        while not self._closing:
            if self.generation:
                self.client.rotate_client_id()
            try:
                async with self.client.session.ws_connect(
                    url,
                    params={"clientId": self.client.client_id},
                    headers=self.client.headers(),
                    ssl=self.client.ssl_context(),
                    heartbeat=WS_HEARTBEAT_S,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                    max_msg_size=self.client.config.limits.max_ws_message_bytes,  # a bigger message closes the socket
                ) as ws:
                    self._ws = ws
                    await ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
                    self.generation += 1
                    failures = 0
                    self.down_since = None
                    self.connected.set()
                    if self.on_connection:
                        self.on_connection(True)
                    await self._receive(ws)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.debug("ws %s: %s", self.client.id, exc)
            except Exception:
                log.exception("ws %s: unexpected error in receive loop", self.client.id)
            finally:
                self._ws = None
                if self.connected.is_set():
                    self.down_since = time.monotonic()
                    self.connected.clear()
                    if self.on_connection:
                        self.on_connection(False)
            if self._closing:
                break
            await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
            failures += 1

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            self.last_message = time.monotonic()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(payload, dict):
                    self._dispatch(payload.get("type"), payload.get("data") or {})
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self._dispatch_binary(msg.data)
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break

    def _dispatch(self, mtype: Any, data: dict[str, Any]) -> None:
        if mtype == "status":
            try:
                q = int(data["status"]["exec_info"]["queue_remaining"])
            except (KeyError, TypeError, ValueError):
                return
            self.queue_remaining = q
            if self.on_status:
                self.on_status(q)
            return
        pid = data.get("prompt_id") if isinstance(data, dict) else None
        if mtype == "execution_start" and pid in self.trackers:
            self._running_prompt = pid
        tracker = self.trackers.get(pid) if pid else None
        if tracker is not None:
            tracker.handle(mtype, data)

    def _dispatch_binary(self, frame: bytes) -> None:
        decoded = decode_binary_frame(frame)
        if decoded is None:
            return
        meta, image = decoded
        pid = meta.get("prompt_id") or self._running_prompt
        tracker = self.trackers.get(pid) if pid else None
        if tracker is not None:
            tracker.handle_image(meta, image)
