"""Start, stop and inspect several local CPU ComfyUI servers of one install.

Each instance ``i`` runs on ``base_port + i`` with its own base directory
``<state_dir>/instances/<i>/`` (custom_nodes, input, output, temp, user, models, its
own SQLite DB and ``comfy.log``) and its own process group, so it outlives the
command that started it. ``<state_dir>/state.json`` records pids, ports and paths;
``<state_dir>/servers.yaml`` is a servers config for the rest of ``comfy_backend``.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from comfy_backend.errors import ProvisionError

from ..agent import install_agent
from ..files import atomic_write_text
from .processes import (
    HOST,
    POLL_INTERVAL,
    exit_code,
    is_instance_process,
    log_tail,
    pid_alive,
    port_conflict_message,
    port_in_use,
    register_child,
    signal_group,
    system_stats,
    terminate_groups,
    wait_dead,
)
from .provision import ComfyInstall, comfy_env, default_cache_root, ensure_comfyui, load_install

log = logging.getLogger(__name__)

DEFAULT_BASE_PORT = 18188
SUBDIRS = ("custom_nodes", "input", "output", "temp", "user", "models", "models/upscale_models")
WS_NODE_FILE = "websocket_image_save.py"
_STATE_VERSION = 1
_STOP_GRACE = 10.0
#: how long an instance of ours may take to answer before it counts as hung (and is restarted)
_PATIENCE = 30.0
#: timeout of one health request to a local instance (a busy CPU instance answers in seconds)
_CHECK_TIMEOUT = 5.0


@dataclass
class LocalServer:
    """One local ComfyUI instance as recorded in ``state.json``."""

    index: int
    id: str
    port: int
    url: str
    base_dir: Path
    log_path: Path
    pid: int | None = None
    extra_args: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["base_dir"], data["log_path"] = str(self.base_dir), str(self.log_path)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalServer:
        return cls(index=int(data["index"]), id=str(data["id"]), port=int(data["port"]), url=str(data["url"]),
                   base_dir=Path(data["base_dir"]), log_path=Path(data["log_path"]),
                   pid=data.get("pid"), extra_args=list(data.get("extra_args") or []))


def default_state_dir() -> Path:
    """``$RYVEN_COMFY_LOCAL_STATE``, else ``<cache root>/local-servers``."""
    explicit = os.environ.get("RYVEN_COMFY_LOCAL_STATE")
    return Path(explicit).expanduser() if explicit else default_cache_root() / "local-servers"


def _new_record(state_dir: Path, index: int, port: int, extra_args: Sequence[str]) -> LocalServer:
    base = state_dir / "instances" / str(index)
    return LocalServer(index=index, id=f"local{index + 1}", port=port, url=f"http://{HOST}:{port}",
                       base_dir=base, log_path=base / "comfy.log", extra_args=list(extra_args))


# ---------------------------------------------------------------- state files


@contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """Serialise every change of ``state_dir`` across processes (commands, tests, the GUI)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(state_dir / ".lock"):
        yield


def _load_state(state_dir: Path) -> tuple[dict[int, LocalServer], Path | None]:
    path = state_dir / "state.json"
    if not path.exists():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        servers = {s.index: s for s in (LocalServer.from_json(d) for d in data.get("servers", []))}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProvisionError(f"unreadable local servers state {path} ({exc}); "
                             f"stop any leftover ComfyUI processes and delete the file") from exc
    root = data.get("install_root")
    return servers, Path(root) if root else None


def _save_state(state_dir: Path, servers: dict[int, LocalServer], install: ComfyInstall | None,
                old_root: Path | None = None) -> None:
    root = str(install.root) if install else (str(old_root) if old_root else None)
    data = {"version": _STATE_VERSION, "install_root": root,
            "servers": [servers[i].to_json() for i in sorted(servers)]}
    atomic_write_text(state_dir / "state.json", json.dumps(data, indent=2) + "\n")


def servers_config_text(servers: Sequence[LocalServer]) -> str:
    """The ``servers.yaml`` text listing ``servers`` (tags: local, cpu)."""
    lines = ["servers:"]
    for srv in sorted(servers, key=lambda s: s.index):
        lines += [f"  - id: {srv.id}", f"    url: {srv.url}", "    tags: [local, cpu]"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- processes


def _is_ours(srv: LocalServer) -> bool:
    return is_instance_process(srv.pid, srv.base_dir)


def answers_patiently(url: str, patience: float = _PATIENCE) -> bool:
    """Whether the instance at ``url`` answers ``/system_stats`` within ``patience`` seconds.

    Tried again and again with a generous timeout per try: a CPU instance in the middle
    of a batch answers late (seconds), and restarting it would lose its jobs.
    """
    deadline = time.monotonic() + patience
    while True:
        left = deadline - time.monotonic()
        if system_stats(url, timeout=max(1.0, min(_CHECK_TIMEOUT, left))) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def _terminate(servers: Sequence[LocalServer], grace: float = _STOP_GRACE) -> int:
    """Stop the instances that run (SIGTERM, then SIGKILL after ``grace`` s); return how many ran."""
    pids = [s.pid for s in servers if s.pid and _is_ours(s)]
    terminate_groups(pids, grace)
    for srv in servers:
        srv.pid = None
    return len(pids)


def _prepare_base_dir(srv: LocalServer, install: ComfyInstall) -> None:
    for sub in SUBDIRS:
        (srv.base_dir / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(install.source_dir / "custom_nodes" / WS_NODE_FILE, srv.base_dir / "custom_nodes" / WS_NODE_FILE)
    install_agent(srv.base_dir / "custom_nodes")  # CPU/RAM use in the servers dock (loaded at the next start)
    model = srv.base_dir / "models" / "upscale_models" / install.tiny_upscale_model.name
    if not model.exists():
        shutil.copy2(install.tiny_upscale_model, model)
    settings = srv.base_dir / "user" / "default" / "comfy.settings.json"
    try:
        current = json.loads(settings.read_text(encoding="utf-8")) if settings.exists() else {}
    except ValueError:
        current = {}
    if current.get("Comfy.TutorialCompleted") is not True:
        current["Comfy.TutorialCompleted"] = True
        atomic_write_text(settings, json.dumps(current, indent=4) + "\n")


def _launch(srv: LocalServer, install: ComfyInstall) -> subprocess.Popen[bytes]:
    _prepare_base_dir(srv, install)
    if srv.log_path.exists():
        os.replace(srv.log_path, srv.log_path.with_name(srv.log_path.name + ".1"))
    cmd = [str(install.python), "main.py", "--cpu", "--listen", HOST, "--port", str(srv.port),
           "--base-directory", str(srv.base_dir), "--database-url", f"sqlite:///{srv.base_dir}/comfyui.db",
           "--disable-api-nodes", "--disable-auto-launch", *srv.extra_args]
    with open(srv.log_path, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=install.source_dir, env=comfy_env(install.stub_dir),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    register_child(proc)
    srv.pid = proc.pid
    log.info("started %s on port %d (pid %d, base %s)", srv.id, srv.port, proc.pid, srv.base_dir)
    return proc


def _wait_ready(started: Sequence[LocalServer], timeout: float) -> None:
    """Poll ``/system_stats`` of every instance every 100 ms; fail early if one dies."""
    pending = list(started)
    deadline = time.monotonic() + timeout
    while pending:
        for srv in list(pending):
            if not (srv.pid and pid_alive(srv.pid)):
                rc = exit_code(srv.pid) if srv.pid else None
                code = f" with code {rc}" if rc is not None else ""
                raise ProvisionError(f"local ComfyUI {srv.id} (port {srv.port}) exited{code} while starting: "
                                     f"{log_tail(srv.log_path)} (log: {srv.log_path})")
            if system_stats(srv.url, timeout=0.5) is not None:
                pending.remove(srv)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(s.id for s in pending)
            raise ProvisionError(f"local ComfyUI {names} not ready after {timeout:.0f} s: "
                                 f"{log_tail(pending[0].log_path)} (log: {pending[0].log_path})")
        time.sleep(POLL_INTERVAL)


def _start_and_wait(to_start: Sequence[LocalServer], install: ComfyInstall, timeout: float,
                    on_launched: Callable[[], None]) -> None:
    """Launch ``to_start`` concurrently and wait for all; on failure stop them all again."""
    try:
        for srv in to_start:
            _launch(srv, install)
        on_launched()
        _wait_ready(to_start, timeout)
    except BaseException:
        _terminate(to_start, grace=3.0)
        on_launched()
        raise


# ---------------------------------------------------------------- public API


def start_local_servers(count: int, base_port: int = DEFAULT_BASE_PORT, state_dir: Path | None = None,
                        install: ComfyInstall | None = None, extra_args: Sequence[str] = (),
                        timeout: float = 120, progress: Callable[[str], None] | None = None) -> list[LocalServer]:
    """Make instances ``0..count-1`` run on ``base_port + i`` and return them once all answer.

    Instances already running (recorded pid alive and answering on their port) are
    reused; instances recorded beyond ``count`` are stopped. Installs ComfyUI first if
    needed. Writes ``state.json`` and ``servers.yaml`` in ``state_dir``.

    Raises:
        ProvisionError: install failed, a port is taken by something else, or an
            instance died or did not answer within ``timeout`` seconds.
    """
    if count < 1:
        raise ProvisionError(f"--count must be at least 1 (got {count})")
    state_dir = Path(state_dir or default_state_dir()).expanduser().resolve()
    say = progress or (lambda msg: log.info("%s", msg))
    install = install or ensure_comfyui(progress=say)
    with _state_lock(state_dir):
        servers, _ = _load_state(state_dir)
        extras = [s for i, s in servers.items() if i >= count]
        if extras:
            say(f"stopping {len(extras)} instance(s) beyond --count {count}")
            _terminate(extras)
            for srv in extras:
                del servers[srv.index]
        to_start: list[LocalServer] = []
        for i in range(count):
            old = servers.get(i)
            wanted = _new_record(state_dir, i, base_port + i, extra_args)
            if old and _is_ours(old) and old.port == wanted.port and old.extra_args == wanted.extra_args \
                    and answers_patiently(old.url, min(timeout, _PATIENCE)):
                # Liveness is decided by the process (our pid, our command line) and a patient
                # check: an instance busy with a batch may take seconds to answer, and is not dead.
                say(f"{old.id} already running at {old.url} (pid {old.pid})")
                continue
            if old:
                _terminate([old])  # recorded but stale, starting, or started with other settings
            servers[i] = wanted
            to_start.append(wanted)
        for srv in to_start:
            if port_in_use(srv.port):
                _save_state(state_dir, servers, install)
                raise ProvisionError(port_conflict_message(srv.port))
        if to_start:
            say(f"starting {len(to_start)} ComfyUI instance(s) on port(s) {', '.join(str(s.port) for s in to_start)}")
            began = time.monotonic()
            _start_and_wait(to_start, install, timeout, lambda: _save_state(state_dir, servers, install))
            say(f"ready in {time.monotonic() - began:.1f} s")
        _save_state(state_dir, servers, install)
        atomic_write_text(state_dir / "servers.yaml", servers_config_text(list(servers.values())))
        return [servers[i] for i in sorted(servers)]


def stop_local_servers(state_dir: Path | None = None) -> int:
    """Stop every recorded instance (SIGTERM, 10 s grace, then SIGKILL); return how many ran."""
    state_dir = Path(state_dir or default_state_dir()).expanduser().resolve()
    if not (state_dir / "state.json").exists():
        return 0
    with _state_lock(state_dir):
        servers, root = _load_state(state_dir)
        stopped = _terminate(list(servers.values()))
        _save_state(state_dir, servers, None, root)
        return stopped


def local_servers_status(state_dir: Path | None = None) -> list[dict[str, Any]]:
    """One dict per recorded instance: id, index, url, port, pid, alive, ready, base_dir, log."""
    state_dir = Path(state_dir or default_state_dir()).expanduser().resolve()
    servers, _ = _load_state(state_dir)
    rows = []
    for srv in (servers[i] for i in sorted(servers)):
        alive = _is_ours(srv)
        rows.append({"id": srv.id, "index": srv.index, "url": srv.url, "port": srv.port,
                     "pid": srv.pid if alive else None, "alive": alive,
                     "ready": alive and system_stats(srv.url, timeout=_CHECK_TIMEOUT) is not None,
                     "base_dir": str(srv.base_dir), "log": str(srv.log_path)})
    return rows


def _one(state_dir: Path, index: int) -> tuple[dict[int, LocalServer], Path | None, LocalServer]:
    servers, root = _load_state(state_dir)
    if index not in servers:
        raise ProvisionError(f"no local instance {index} in {state_dir / 'state.json'} "
                             f"(known: {sorted(servers) or 'none'})")
    return servers, root, servers[index]


def kill_local_server(index: int, state_dir: Path | None = None,
                      sig: signal.Signals = signal.SIGKILL) -> LocalServer:
    """Kill instance ``index`` abruptly (default SIGKILL) to simulate a crash; waits until it is gone.

    The pid stays recorded, so status shows the instance as not alive.
    """
    state_dir = Path(state_dir or default_state_dir()).expanduser().resolve()
    with _state_lock(state_dir):
        _, _, srv = _one(state_dir, index)
        if srv.pid and _is_ours(srv):
            signal_group(srv.pid, sig)
            wait_dead([srv.pid], timeout=_STOP_GRACE)
        return srv


def restart_local_server(index: int, state_dir: Path | None = None, install: ComfyInstall | None = None,
                         timeout: float = 120) -> LocalServer:
    """Stop instance ``index`` if it runs, start it again on the same port, and wait until it answers."""
    state_dir = Path(state_dir or default_state_dir()).expanduser().resolve()
    with _state_lock(state_dir):
        servers, root, srv = _one(state_dir, index)
        install = install or (load_install(root) if root else None) or ensure_comfyui()
        _terminate([srv])
        if port_in_use(srv.port):
            raise ProvisionError(port_conflict_message(srv.port))
        _start_and_wait([srv], install, timeout, lambda: _save_state(state_dir, servers, install))
        _save_state(state_dir, servers, install)
        return srv
