"""Pytest plugin: real local CPU ComfyUI servers, started once per test session.

Enable with ``pytest_plugins = ["tests.real_servers"]`` in ``tests/conftest.py``.
Tests using these fixtures should be marked ``real``.

* ``real_servers``: base URLs of 3 instances on ports 18188-18190 (or the next free
  block of three, 18200-18202, 18212-… when another test session holds them), started in the
  session temp dir and stopped at session end. With ``RYVEN_COMFY_REUSE_SERVERS=1``
  the default state dir (``$RYVEN_COMFY_LOCAL_STATE`` or the cache) is used instead,
  running instances are reused and left running at the end.
* ``real_server``: the first URL.
* ``real_state_dir``: the state dir holding ``state.json`` and ``servers.yaml``.

The first run installs ComfyUI into the user cache (about 2 minutes, once).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_backend.local.instances import default_state_dir, start_local_servers, stop_local_servers
from comfy_backend.local.processes import HOST, pid_alive, port_in_use, system_stats
from comfy_backend.local.provision import ensure_comfyui

log = logging.getLogger(__name__)

REAL_SERVER_COUNT = 3
REAL_BASE_PORT = 18188
OWNER_FILE = "owner.pid"  # pid of the pytest process that started the servers


def _reuse() -> bool:
    return os.environ.get("RYVEN_COMFY_REUSE_SERVERS", "") not in ("", "0", "false", "no")


def _owner_alive(state_dir: Path) -> bool:
    try:
        return pid_alive(int((state_dir / OWNER_FILE).read_text()))
    except (OSError, ValueError):
        return False


def _stop_leftovers_of_killed_sessions(basetemp_parent: Path) -> None:
    """Stop servers that an earlier, killed pytest session left on our ports.

    Only instances whose base directory lies in a pytest temp dir of this user, whose
    state dir still records them, and whose owning pytest process is gone are stopped.
    Servers of a pytest session that is still running are left alone (the start then
    fails with a clear port-conflict message).
    """
    for port in range(REAL_BASE_PORT, REAL_BASE_PORT + REAL_SERVER_COUNT):
        stats = system_stats(f"http://{HOST}:{port}", timeout=1.0)
        argv = (stats or {}).get("system", {}).get("argv", [])
        if "--base-directory" not in argv[:-1]:
            continue
        state_dir = Path(argv[argv.index("--base-directory") + 1]).parent.parent
        if basetemp_parent in state_dir.parents and (state_dir / "state.json").exists() \
                and not _owner_alive(state_dir):
            log.warning("stopping local servers left by an earlier test session in %s", state_dir)
            stop_local_servers(state_dir)


def _free_base_port() -> int:
    """The first block of REAL_SERVER_COUNT free ports from REAL_BASE_PORT, in steps of 12."""
    for base in range(REAL_BASE_PORT, REAL_BASE_PORT + 12 * 8, 12):
        if not any(port_in_use(p) for p in range(base, base + REAL_SERVER_COUNT)):
            return base
    return REAL_BASE_PORT  # all taken: the start fails with a clear port-conflict message


@pytest.fixture(scope="session")
def real_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's local servers keep ``state.json`` and ``servers.yaml``."""
    if _reuse():
        return default_state_dir().expanduser().resolve()
    return tmp_path_factory.mktemp("local-servers").resolve()


@pytest.fixture(scope="session")
def real_servers(real_state_dir: Path, pytestconfig: pytest.Config,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Base URLs of 3 running local ComfyUI 0.3.75 instances (ports 18188-18190)."""
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")

    def progress(msg: str) -> None:  # installing takes minutes: show it, uncaptured
        if reporter is not None:
            reporter.write_line(f"[real servers] {msg}")
        log.info("%s", msg)

    began = time.monotonic()
    install = ensure_comfyui(progress=progress)
    if not _reuse():
        _stop_leftovers_of_killed_sessions(tmp_path_factory.getbasetemp().resolve().parent)
        (real_state_dir / OWNER_FILE).write_text(str(os.getpid()))
    base_port = REAL_BASE_PORT if _reuse() else _free_base_port()
    servers = start_local_servers(REAL_SERVER_COUNT, base_port=base_port,
                                  state_dir=real_state_dir, install=install)
    log.info("real servers ready in %.1f s: %s", time.monotonic() - began, [s.url for s in servers])
    try:
        yield [s.url for s in servers]
    finally:
        if not _reuse():
            stop_local_servers(real_state_dir)


@pytest.fixture(scope="session")
def real_server(real_servers: list[str]) -> str:
    """Base URL of the first local ComfyUI instance."""
    return real_servers[0]
