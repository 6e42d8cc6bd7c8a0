"""Reading HTTP answers within a size limit, and the origin rule for credentials.

Every byte a server sends is bounded: bodies are read in chunks and cut as soon as they
pass their limit (a ``Content-Length`` beyond it is refused before reading), so a huge
or endless answer costs at most the limit in memory, or nothing when streamed to a sink.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import yarl

#: receives a downloaded body chunk by chunk (``ComfyClient.view_to``)
Sink = Callable[[bytes], Awaitable[None]]
_CHUNK = 64 * 1024
#: chunks are handed to a sink in batches of this size: one executor hop per MiB
_SINK_BATCH = 1024 * 1024


def same_origin(a: yarl.URL, b: yarl.URL) -> bool:
    """Whether two URLs share scheme, host and port (the browser's origin rule)."""
    return (a.scheme.lower(), (a.host or "").lower(), a.port) == (b.scheme.lower(), (b.host or "").lower(), b.port)


def size_text(n: int) -> str:
    """``2 GiB``, ``64 KiB``, ``12 bytes``."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


async def read_prefix(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of a body we only quote (error pages); the rest is never read."""
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        buf += chunk
        if len(buf) >= limit:
            break
    return bytes(buf[:limit])


async def read_capped(resp: aiohttp.ClientResponse, limit: int, too_large: Exception) -> bytes:
    """The whole body, or ``too_large`` raised as soon as it passes ``limit`` bytes."""
    if resp.content_length is not None and resp.content_length > limit:
        raise too_large
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise too_large
    return bytes(buf)


async def stream_capped(resp: aiohttp.ClientResponse, limit: int, sink: Sink, too_large: Exception) -> int:
    """Hand the body to ``sink`` in batches; its size, or ``too_large`` past ``limit`` bytes."""
    if resp.content_length is not None and resp.content_length > limit:
        raise too_large
    total = 0
    pending = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise too_large
        pending += chunk
        if len(pending) >= _SINK_BATCH:
            await sink(bytes(pending))
            pending.clear()
    if pending:
        await sink(bytes(pending))
    return total
