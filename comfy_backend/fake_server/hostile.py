"""Hostile behaviours of the fake server: answers a buggy or malicious server could send.

Tests switch them on per path with :class:`Hostile` (``server.hostile``); a route with no
rule answers normally. They exist to prove that nothing a server sends can exhaust our
memory, reach the terminal raw, or collect our credentials elsewhere.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware

_CHUNK = b"\0" * (256 * 1024)


@dataclass
class Rule:
    """How one path misbehaves (the first of the fields that is set decides)."""

    #: a body of this many bytes (None with ``endless`` = never ends), streamed
    body_size: int | None = None
    endless: bool = False
    #: claim no length and stream this raw body (e.g. huge or malformed JSON)
    raw: bytes | None = None
    #: answer this status with this text (error pages carrying escape sequences…)
    status: int | None = None
    text: str = ""
    #: redirect (302) to this URL
    redirect: str | None = None
    #: content type of ``raw`` / ``text``
    content_type: str = "application/json"


@dataclass
class Hostile:
    """Per-path misbehaviour, consulted by :func:`middleware` before the normal routes."""

    rules: dict[str, Rule] = field(default_factory=dict)
    #: requests seen per path with their headers (to check where credentials went)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def on(self, path: str, **rule: object) -> None:
        """Make ``path`` (and ``/api`` + path) misbehave as ``Rule(**rule)`` says."""
        self.rules[path] = Rule(**rule)  # type: ignore[arg-type]

    def off(self, path: str | None = None) -> None:
        """Back to normal for ``path`` (or every path)."""
        if path is None:
            self.rules.clear()
        else:
            self.rules.pop(path, None)


async def _stream(request: web.Request, rule: Rule) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/octet-stream"})
    await resp.prepare(request)
    sent = 0
    while rule.endless or sent < (rule.body_size or 0):
        chunk = _CHUNK if rule.endless else _CHUNK[: min(len(_CHUNK), (rule.body_size or 0) - sent)]
        await resp.write(chunk)
        sent += len(chunk)
    await resp.write_eof()
    return resp


def middleware(hostile: Hostile) -> Middleware:
    """An aiohttp middleware applying ``hostile``'s rules."""

    @web.middleware
    async def hostile_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        path = request.path.removeprefix("/api") if request.path.startswith("/api/") else request.path
        hostile.seen.append((path, dict(request.headers)))
        rule = hostile.rules.get(path)
        if rule is None:
            return await handler(request)
        if rule.redirect is not None:
            raise web.HTTPFound(rule.redirect)
        if rule.status is not None:
            return web.Response(status=rule.status, text=rule.text, content_type="text/plain")
        if rule.raw is not None:
            resp = web.StreamResponse(status=200, headers={"Content-Type": rule.content_type})
            await resp.prepare(request)
            await resp.write(rule.raw)
            await resp.write_eof()
            return resp
        if rule.body_size is not None or rule.endless:
            return await _stream(request, rule)
        return await handler(request)

    return hostile_middleware
