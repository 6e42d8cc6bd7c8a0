"""A buggy or hostile server harms nothing: every answer is bounded, credentials stay on
their origin, and no server text reaches the terminal raw (issue 8, items 4, 5, 9)."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from comfy_backend.cli.main import error_line, main
from comfy_backend.client import ComfyClient
from comfy_backend.config import ServerConfig, parse_servers_config
from comfy_backend.errors import ResponseTooLarge, ServerHTTPError
from comfy_backend.models import OutputRef
from comfy_backend.outputs import download_output
from comfy_backend.safe_text import sanitize

NASTY = "boom \x1b]0;pwned title\x07 \x1b[2J \x1b]52;c;ZXZpbA==\x07 \x9b31m bell\x07 end"


def config(url: str, auth: dict[str, Any] | None = None, **limits: int) -> ServerConfig:
    entry: dict[str, Any] = {"id": "h", "url": url}
    if auth:
        entry["auth"] = auth
    return parse_servers_config({"servers": [entry], "defaults": limits}).servers[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def no_escapes(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text


# -- item 4: every byte is bounded ----------------------------------------------------
@pytest.mark.parametrize("endless", [True, False])
async def test_view_body_beyond_the_limit_is_cut_and_leaves_no_file(fake_servers, session, tmp_path, endless):
    [fake] = await fake_servers(1)
    fake.hostile.on("/view", endless=endless, body_size=None if endless else 3 * 2**20)
    client = ComfyClient(config(fake.url, max_output_bytes=2**20), session)
    ref = OutputRef("h", "9", "big.png", "", "output")
    with pytest.raises(ResponseTooLarge, match="more than 1 MiB"):
        await download_output(lambda sink: client.view_to("big.png", "", "output", sink), ref, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no output, no .part- left behind
    with pytest.raises(ResponseTooLarge):
        await ClientWithMemoryLimit(fake.url, session).view("big.png", "", "output")


def ClientWithMemoryLimit(url: str, session: aiohttp.ClientSession) -> ComfyClient:
    return ComfyClient(config(url, max_output_memory_bytes=2**20), session)


async def test_view_within_the_limit_is_streamed_to_a_normal_file(fake_servers, session, tmp_path):
    [fake] = await fake_servers(1)
    fake.hostile.on("/view", body_size=3 * 2**20 + 5)
    client = ComfyClient(config(fake.url), session)
    ref = OutputRef("h", "9", "ok.png", "sub", "output")
    path = await download_output(lambda sink: client.view_to("ok.png", "sub", "output", sink), ref, tmp_path)
    assert path == tmp_path.resolve() / "sub" / "ok.png" and path.stat().st_size == 3 * 2**20 + 5
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


async def test_json_answers_and_object_info_are_bounded(fake_servers, session):
    [fake] = await fake_servers(1)
    client = ComfyClient(config(fake.url, max_json_bytes=2**16, max_object_info_bytes=2**17), session)
    fake.hostile.on("/queue", raw=b'{"queue_running": [' + b"1," * 100_000 + b"1]}")
    with pytest.raises(ResponseTooLarge):
        await client.queue()
    fake.hostile.on("/object_info", raw=b"{" + b'"a": 1,' * 40_000 + b'"b": 2}')
    with pytest.raises(ResponseTooLarge):
        await client.object_info()
    fake.hostile.on("/system_stats", raw=b"{\"n\": " + b"9" * 10_000 + b"}")  # past Python's digit limit
    with pytest.raises(ServerHTTPError, match="not usable JSON"):
        await client.system_stats()


async def test_error_bodies_are_kept_short(fake_servers, session):
    [fake] = await fake_servers(1)
    fake.hostile.on("/queue", status=500, text=NASTY + "x" * 5_000_000)
    client = ComfyClient(config(fake.url), session)
    with pytest.raises(ServerHTTPError) as info:
        await client.queue()
    assert len(str(info.value)) < 400
    no_escapes(error_line(info.value))


async def test_websocket_message_beyond_the_limit_drops_the_connection(fake_servers):
    from comfy_backend.pool import ServerPool
    from tests.fake_fixtures import pool_config

    [fake] = await fake_servers(1)
    cfg = pool_config([fake], max_ws_message_bytes=2**16)
    async with ServerPool(cfg) as pool:
        stream = pool.servers["f0"].stream
        await stream.connected.wait()
        first = stream.generation
        fake.hub.send("status", {"junk": "x" * 2**20})  # 1 MiB text message
        while stream.generation == first:  # reconnected: the big message was refused, not kept
            await asyncio.sleep(0.05)


# -- item 9: credentials never cross origins ------------------------------------------
@pytest.mark.parametrize("kind", ["bearer", "basic", "headers"])
async def test_redirect_to_another_origin_carries_no_credentials(fake_servers, session, monkeypatch, tmp_path, kind):
    home, other = await fake_servers(2)
    monkeypatch.setenv("H_TOKEN", "tok-secret")
    (tmp_path / "pw").write_text("pw-secret")
    auth = {"bearer": {"kind": "bearer", "token_env": "H_TOKEN"},
            "basic": {"kind": "basic", "username": "u", "password_file": str(tmp_path / "pw")},
            "headers": {"kind": "headers", "headers_env": {"X-Api-Key": "H_TOKEN"}}}[kind]
    home.hostile.on("/view", redirect=other.url + "/system_stats")
    client = ComfyClient(config(home.url, auth), session)
    await client.view("a.png", "", "output")
    [(_, sent_home)] = [s for s in home.hostile.seen if s[0] == "/view"]
    [(_, sent_other)] = [s for s in other.hostile.seen if s[0] == "/system_stats"]
    assert "Authorization" in sent_home or "X-Api-Key" in sent_home
    assert not ({"Authorization", "X-Api-Key"} & set(sent_other))
    # a redirect within the origin keeps them
    home.hostile.on("/view", redirect=home.url + "/system_stats")
    await client.view("a.png", "", "output")
    assert any(p == "/system_stats" and ("Authorization" in h or "X-Api-Key" in h) for p, h in home.hostile.seen)


def test_password_in_url_is_refused_when_the_config_is_read(tmp_path, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("servers:\n  - id: a\n    url: http://ann:hunter2@127.0.0.1:8188\n")
    assert main(["servers", "status", "--servers", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "auth" in err and "password_env" in err and err.count("\n") == 1


# -- item 5: nothing reaches the terminal raw -----------------------------------------
def test_sanitize_strips_escapes_and_cuts_long_text():
    out = sanitize(NASTY + "\nsecond line" + "y" * 3000)
    no_escapes(out)
    assert "pwned" not in out and "ZXZpbA" not in out and "\\x07" in out  # a lone BEL is shown, not rung
    assert "boom" in out and "\nsecond line" in out
    assert out.endswith("more characters)")


async def test_servers_status_prints_server_text_sanitised(fake_servers, tmp_path, capsys):
    [fake] = await fake_servers(1)
    fake.hostile.on("/system_stats", status=500, text=NASTY)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"servers:\n  - id: evil\n    url: {fake.url}\n")
    code = await asyncio.get_running_loop().run_in_executor(None, main, ["servers", "status", "--servers", str(cfg)])
    out = capsys.readouterr()
    no_escapes(out.out + out.err)
    assert code == 1 and "HTTP 500" in out.out
