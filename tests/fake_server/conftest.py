"""Fixtures of the fake-server tests."""
from __future__ import annotations

import aiohttp
import pytest

from comfy_backend.fake_server import FakeComfyServer


@pytest.fixture
async def fake():
    server = FakeComfyServer(history_delay=0.02)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


