"""Pytest plugin: fake ComfyUI servers (for faults and scale) and a pool over them."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from comfy_backend.config import parse_servers_config


@pytest.fixture
async def fake_servers() -> AsyncIterator[Callable[..., Awaitable[list[Any]]]]:
    """Factory: ``await fake_servers(n, speeds=[...], **kwargs)`` → started FakeComfyServer objects."""
    from comfy_backend.fake_server import FakeComfyServer

    started: list[Any] = []

    async def make(n: int = 1, speeds: list[float] | None = None, **kwargs: Any) -> list[Any]:
        out = []
        for i in range(n):
            srv = FakeComfyServer(speed=(speeds[i] if speeds else 1.0), **kwargs)
            await srv.start()
            started.append(srv)
            out.append(srv)
        return out

    yield make
    for srv in started:
        try:
            await srv.stop()
        except Exception:
            pass


def pool_config(servers: list[Any], **defaults: Any):
    """A ServersConfig for fake servers (ids f0, f1, ...), with fast health checks."""
    base = {"health_interval": 0.2, "retry_backoff": 0.05, "offline_after": 2}
    base.update(defaults)
    return parse_servers_config({
        "servers": [{"id": f"f{i}", "url": s.url, "tags": list(getattr(s, "tags", []))} for i, s in enumerate(servers)],
        "defaults": base,
    })


def width_cost(p: dict[str, Any]) -> float:
    """Fake node cost: an EmptyImage's width in ms (the tests' way to make jobs slower or faster)."""
    for node in p.values():
        if node.get("class_type") == "EmptyImage":
            return float(node["inputs"]["width"]) / 1000.0
    return 0.01


@pytest.fixture
async def pool_of(fake_servers: Callable[..., Awaitable[list[Any]]]) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Factory: ``await pool_of(n, speeds=None, policy=None, **defaults)`` → (started ServerPool, fake servers)."""
    from comfy_backend.pool import ServerPool

    pools: list[Any] = []

    async def make(n: int = 3, speeds: list[float] | None = None, policy: Any = None,
                   **defaults: Any) -> tuple[Any, list[Any]]:
        servers = await fake_servers(n, speeds=speeds, cost=width_cost, history_delay=0.02)
        pool = await ServerPool(pool_config(servers, **defaults), policy=policy).start()
        pools.append(pool)
        return pool, servers

    yield make
    for pool in pools:
        await pool.close()
