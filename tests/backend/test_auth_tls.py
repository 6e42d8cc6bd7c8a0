"""Auth headers and TLS reach the server on every request and on the WebSocket.

A small reverse proxy in front of a fake ComfyUI server plays the part of nginx /
ComfyUI-Login: it refuses anything without the right credentials, optionally over TLS
with a certificate from our own CA.
"""
from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from comfy_backend.config import parse_servers_config
from comfy_backend.jobs import JobSpec
from comfy_backend.models import Health, JobState
from comfy_backend.pool import ServerPool
from tests.backend.test_pool_fake import prompt


async def start_proxy(target: str, required: dict[str, str], ssl_ctx: ssl.SSLContext | None = None):
    session = aiohttp.ClientSession()
    seen = {"http": 0, "ws": 0, "refused": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        if any(request.headers.get(k) != v for k, v in required.items()):
            seen["refused"] += 1
            return web.Response(status=401, text="unauthorized")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            seen["ws"] += 1
            down = web.WebSocketResponse()
            await down.prepare(request)
            async with session.ws_connect(target + request.path, params=request.query) as up:
                async def pump_up():
                    async for m in down:
                        if m.type == aiohttp.WSMsgType.TEXT:
                            await up.send_str(m.data)
                async def pump_down():
                    async for m in up:
                        if m.type == aiohttp.WSMsgType.TEXT:
                            await down.send_str(m.data)
                        elif m.type == aiohttp.WSMsgType.BINARY:
                            await down.send_bytes(m.data)
                tasks = [asyncio.create_task(pump_up()), asyncio.create_task(pump_down())]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in tasks:
                    t.cancel()
            return down
        seen["http"] += 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type",)}
        async with session.request(request.method, target + request.path, params=request.query, data=body, headers=headers) as r:
            return web.Response(status=r.status, body=await r.read(), content_type=r.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]

    async def stop():
        await runner.cleanup()
        await session.close()

    return f"{'https' if ssl_ctx else 'http'}://127.0.0.1:{port}", seen, stop


def make_ca_and_cert(d: Path) -> tuple[Path, Path, Path]:
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext.cnf")
    return d / "ca.pem", d / "srv.pem", d / "srv.key"


@pytest.mark.parametrize("kind", ["bearer", "basic", "headers"])
async def test_credentials_on_http_and_websocket(fake_servers, monkeypatch, tmp_path, kind):
    [fake] = await fake_servers(1, history_delay=0.01)
    monkeypatch.setenv("T_TOKEN", "tok-123")
    (tmp_path / "pw").write_text("s3cret\n")
    if kind == "bearer":
        auth, required = {"kind": "bearer", "token_env": "T_TOKEN"}, {"Authorization": "Bearer tok-123"}
    elif kind == "basic":
        auth = {"kind": "basic", "username": "ann", "password_file": str(tmp_path / "pw")}
        required = {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()}
    else:
        auth, required = {"kind": "headers", "headers_env": {"X-Api-Key": "T_TOKEN"}}, {"X-Api-Key": "tok-123"}
    url, seen, stop = await start_proxy(fake.url, required)
    try:
        cfg = parse_servers_config({"servers": [{"id": "p", "url": url, "auth": auth}], "defaults": {"health_interval": 0.2}})
        async with ServerPool(cfg) as pool:
            snap = (await pool.run(JobSpec(prompt()))).future.result()
            assert snap.state is JobState.SUCCEEDED, snap.error
            assert (await pool.fetch_output(snap.outputs[0])).startswith(b"\x89PNG")
            assert pool.servers["p"].stream.connected.is_set()
        assert seen["refused"] == 0 and seen["ws"] >= 1 and seen["http"] >= 3
    finally:
        await stop()


async def test_wrong_credentials_show_as_offline_with_a_clear_reason(fake_servers, monkeypatch):
    [fake] = await fake_servers(1)
    monkeypatch.setenv("T_TOKEN", "wrong")
    url, seen, stop = await start_proxy(fake.url, {"Authorization": "Bearer right"})
    try:
        cfg = parse_servers_config({"servers": [{"id": "p", "url": url, "auth": {"kind": "bearer", "token_env": "T_TOKEN"}}]})
        async with ServerPool(cfg) as pool:
            snap = pool.servers["p"].snapshot()
            assert snap.health is Health.OFFLINE
            assert "HTTP 401" in snap.last_error and "auth" in snap.last_error
            assert "wrong" not in snap.last_error
    finally:
        await stop()


async def test_https_and_wss_with_private_ca(fake_servers, tmp_path):
    [fake] = await fake_servers(1, history_delay=0.01)
    ca, cert, key = make_ca_and_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    url, seen, stop = await start_proxy(fake.url, {}, ssl_ctx=ctx)
    try:
        cfg = parse_servers_config({"servers": [{"id": "tls", "url": url, "ca_file": str(ca)}], "defaults": {"health_interval": 0.2}})
        async with ServerPool(cfg) as pool:
            snap = (await pool.run(JobSpec(prompt()))).future.result()
            assert snap.state is JobState.SUCCEEDED, snap.error
            assert seen["ws"] >= 1
        # without our CA the certificate is refused, with a message that says so
        cfg = parse_servers_config({"servers": [{"id": "tls", "url": url}]})
        async with ServerPool(cfg) as pool:
            s = pool.servers["tls"].snapshot()
            assert s.health is Health.OFFLINE
            assert "TLS" in (s.last_error or "") or "certificate" in (s.last_error or "")
    finally:
        await stop()
