"""Process, port and HTTP-probe helpers for the local ComfyUI instances (psutil for process facts)."""
from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
POLL_INTERVAL = 0.1

#: Processes started by this Python process, kept so they can be reaped (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def register_child(proc: subprocess.Popen[bytes]) -> None:
    """Remember a started process so that liveness checks can reap it once it exits."""
    _CHILDREN[proc.pid] = proc


def exit_code(pid: int) -> int | None:
    """The exit code of a child started by this process, if known."""
    proc = _CHILDREN.get(pid)
    return proc.returncode if proc is not None else None


def _reap(pid: int) -> None:
    proc = _CHILDREN.get(pid)
    if proc is not None:
        proc.poll()
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its own parent reaps it


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    _reap(pid)
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, but another user's: its state is not ours to read


def is_instance_process(pid: int | None, base_dir: Path) -> bool:
    """True if ``pid`` is alive and its command line names ``base_dir`` (pids get reused)."""
    if not pid or not pid_alive(pid):
        return False
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:  # gone (or a zombie) since pid_alive
        return False
    except psutil.AccessDenied:
        return True  # cannot read it: trust the recorded pid, as a start would find the port taken anyway
    return str(base_dir) in cmdline


def system_stats(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The JSON of ``GET <url>/system_stats`` if it answers 200, else None."""
    try:
        with urllib.request.urlopen(f"{url}/system_stats", timeout=timeout) as resp:
            return json.loads(resp.read()) if resp.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):  # refused, reset, timeout, not HTTP, bad JSON
        return None


def port_in_use(port: int, host: str = HOST) -> bool:
    """True if something listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option as aiohttp's listener: a port only in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_conflict_message(port: int) -> str:
    """One line saying who holds ``port`` (another ComfyUI and its base dir, if it is one)."""
    stats = system_stats(f"http://{HOST}:{port}", timeout=5.0)
    who = "another program"
    if isinstance(stats, dict):
        system = stats.get("system")
        argv = system.get("argv") if isinstance(system, dict) else None
        argv = [str(a) for a in argv] if isinstance(argv, list) else []
        base = argv[argv.index("--base-directory") + 1] if "--base-directory" in argv[:-1] else None
        who = f"another ComfyUI (base directory {base})" if base else "another ComfyUI"
    return (f"port {port} is already in use by {who}; stop it "
            f"(e.g. 'ryven-comfy local-servers down --state-dir <its state dir>') or choose another --base-port")


def read_tail(path: Path | None, lines: int = 8, max_bytes: int = 16384) -> list[str]:
    """The last ``lines`` non-empty lines of a (possibly large, growing) log file; [] when unreadable."""
    if path is None:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").replace("\r", "\n")
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()][-lines:]


def log_tail(path: Path, lines: int = 3) -> str:
    """The last non-empty lines of a log, joined on one line."""
    tail = read_tail(path, lines)
    if not tail:
        return "(empty log)" if path.is_file() else "(no log)"
    return " | ".join(ln.strip() for ln in tail)[-400:]


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``pid`` (started with start_new_session)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def wait_dead(pids: Sequence[int], timeout: float) -> bool:
    """Wait until none of ``pids`` is alive; return whether that happened in time."""
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate_groups(pids: Sequence[int], grace: float) -> None:
    """SIGTERM each process group, then SIGKILL the ones still alive after ``grace`` s."""
    for pid in pids:
        signal_group(pid, signal.SIGTERM)
    if wait_dead(pids, grace):
        return
    for pid in pids:
        if pid_alive(pid):
            log.warning("pid %s ignored SIGTERM for %.0f s; killing it", pid, grace)
            signal_group(pid, signal.SIGKILL)
    wait_dead(pids, 5.0)
