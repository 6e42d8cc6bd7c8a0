"""Real local ComfyUI instances: layout, status, reuse, port conflicts, kill/restart, stop, CLI.

Uses the session's 3 servers (``tests.real_servers``) plus, for stop/CLI/failure tests,
short-lived extra instances on ports 18197-18198.
"""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from comfy_backend.errors import ProvisionError
from comfy_backend.local.instances import (
    kill_local_server,
    local_servers_status,
    restart_local_server,
    start_local_servers,
    stop_local_servers,
)

pytestmark = pytest.mark.real

FOREIGN_PORT = 18196
EXTRA_PORT = 18197
BROKEN_PORT = 18198


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5.0) as resp:
        return json.loads(resp.read())


def _run_cli(argv: list[str]) -> int:
    """Through the real entry point, which maps errors to one stderr line and an exit code."""
    from comfy_backend.cli.main import main

    return main(argv)


def test_status_lists_three_ready_instances(real_servers: list[str], real_state_dir: Path) -> None:
    rows = local_servers_status(real_state_dir)
    base = int(real_servers[0].rsplit(":", 1)[1])
    assert [r["url"] for r in rows] == real_servers == [f"http://127.0.0.1:{p}" for p in (base, base + 1, base + 2)]
    assert all(r["alive"] and r["ready"] for r in rows)
    assert len({r["pid"] for r in rows}) == 3
    assert [r["id"] for r in rows] == ["local1", "local2", "local3"]


def test_servers_yaml_has_the_documented_shape(real_servers: list[str], real_state_dir: Path) -> None:
    expected = "servers:\n" + "".join(
        f"  - id: local{i + 1}\n    url: {url}\n    tags: [local, cpu]\n" for i, url in enumerate(real_servers))
    assert (real_state_dir / "servers.yaml").read_text() == expected


def test_each_instance_has_its_own_base_directory_and_db(real_servers: list[str], real_state_dir: Path) -> None:
    for i, url in enumerate(real_servers):
        argv = _get(f"{url}/system_stats")["system"]["argv"]
        base = real_state_dir / "instances" / str(i)
        assert argv[argv.index("--base-directory") + 1] == str(base)
        assert argv[argv.index("--database-url") + 1] == f"sqlite:///{base}/comfyui.db"
        assert "--disable-api-nodes" in argv and "--cpu" in argv
        paths = _get(f"{url}/internal/folder_paths")
        assert paths["custom_nodes"][0] == str(base / "custom_nodes")
        for sub in ("input", "output", "temp", "user", "models/upscale_models"):
            assert (base / sub).is_dir()
        assert (base / "comfy.log").stat().st_size > 0
        settings = json.loads((base / "user" / "default" / "comfy.settings.json").read_text())
        assert settings["Comfy.TutorialCompleted"] is True


def test_nodes_and_tiny_upscale_model_are_available(real_server: str) -> None:
    assert _get(f"{real_server}/object_info/SaveImageWebsocket")["SaveImageWebsocket"]["output_node"] is True
    assert "UpscaleModelLoader" in _get(f"{real_server}/object_info/UpscaleModelLoader")
    assert _get(f"{real_server}/models/upscale_models") == ["tiny_compact_x2.safetensors"]


def test_trivial_prompt_runs_on_every_instance(real_servers: list[str], real_state_dir: Path) -> None:
    for i, url in enumerate(real_servers):
        prefix = f"smoke_{uuid.uuid4().hex[:8]}"
        prompt = {"1": {"class_type": "EmptyImage",
                        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x336699}},
                  "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}}
        prompt_id = _post(f"{url}/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
        deadline = time.monotonic() + 30
        entry: dict[str, Any] = {}
        while time.monotonic() < deadline and not entry.get("status", {}).get("completed"):
            time.sleep(0.05)
            entry = _get(f"{url}/history/{prompt_id}").get(prompt_id, {})
        assert entry["status"]["status_str"] == "success"
        image = entry["outputs"]["2"]["images"][0]
        assert (real_state_dir / "instances" / str(i) / "output" / image["subfolder"] / image["filename"]).is_file()


def test_start_again_reuses_running_instances(real_servers: list[str], real_state_dir: Path) -> None:
    before = {r["id"]: r["pid"] for r in local_servers_status(real_state_dir)}
    began = time.monotonic()
    servers = start_local_servers(3, base_port=int(real_servers[0].rsplit(":", 1)[1]), state_dir=real_state_dir)
    assert time.monotonic() - began < 5
    assert {s.id: s.pid for s in servers} == before


def test_port_taken_by_another_comfyui_is_reported(real_servers: list[str], tmp_path: Path) -> None:
    port = int(real_servers[0].rsplit(":", 1)[1])
    try:
        with pytest.raises(ProvisionError) as info:
            start_local_servers(1, base_port=port, state_dir=tmp_path / "other")
    finally:
        stop_local_servers(tmp_path / "other")  # in case the session servers were gone
    message = str(info.value)
    assert f"port {port} is already in use by another ComfyUI" in message
    assert "--base-port" in message and "\n" not in message


def test_port_taken_by_another_program_is_reported_before_starting(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", FOREIGN_PORT))
        sock.listen()
        with pytest.raises(ProvisionError, match=f"port {FOREIGN_PORT} is already in use by another program"):
            start_local_servers(2, base_port=FOREIGN_PORT - 1, state_dir=tmp_path / "s")
    # Checked before starting anything: the free first port got no process either.
    assert not any(r["alive"] for r in local_servers_status(tmp_path / "s"))


def test_kill_and_restart_one_instance(real_servers: list[str], real_state_dir: Path) -> None:
    url = real_servers[2]
    old = {r["index"]: r for r in local_servers_status(real_state_dir)}[2]
    kill_local_server(2, real_state_dir)
    with pytest.raises(OSError):  # URLError or connection refused
        _get(f"{url}/system_stats", timeout=1)
    row = local_servers_status(real_state_dir)[2]
    assert not row["alive"] and not row["ready"]
    assert all(r["ready"] for r in local_servers_status(real_state_dir)[:2])

    srv = restart_local_server(2, real_state_dir)
    assert srv.url == url and srv.pid != old["pid"] and str(srv.base_dir) == old["base_dir"]
    assert _get(f"{url}/system_stats")["system"]["comfyui_version"] == "0.3.75"
    assert all(r["ready"] for r in local_servers_status(real_state_dir))


def test_cli_up_status_down(real_servers: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "cli-state"
    assert _run_cli(["local-servers", "up", "--count", "1", "--base-port", str(EXTRA_PORT),
                     "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert f"servers config: {state.resolve() / 'servers.yaml'}" in out
    assert f"local1: http://127.0.0.1:{EXTRA_PORT}" in out

    assert _run_cli(["local-servers", "status", "--state-dir", str(state), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["ready"]) for r in rows] == [("local1", True)]

    assert _run_cli(["local-servers", "down", "--state-dir", str(state)]) == 0
    assert "stopped 1 " in capsys.readouterr().out
    assert local_servers_status(state)[0]["alive"] is False
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{EXTRA_PORT}/system_stats", timeout=1)
    assert _run_cli(["local-servers", "status", "--state-dir", str(state)]) == 3
    assert _run_cli(["local-servers", "down", "--state-dir", str(state)]) == 0  # idempotent


def test_cli_error_is_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", FOREIGN_PORT))
        sock.listen()
        code = _run_cli(["local-servers", "up", "--count", "1", "--base-port", str(FOREIGN_PORT),
                         "--state-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: port {FOREIGN_PORT} is already in use by another program")
    assert "Traceback" not in err


def test_instance_that_dies_while_starting_fails_fast_with_log_tail(tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(ProvisionError) as info:
        start_local_servers(1, base_port=BROKEN_PORT, state_dir=tmp_path / "broken",
                            extra_args=["--no-such-flag"])
    assert time.monotonic() - began < 30
    message = str(info.value)
    assert "exited with code 2 while starting" in message
    assert "unrecognized arguments: --no-such-flag" in message
    assert local_servers_status(tmp_path / "broken")[0]["alive"] is False
