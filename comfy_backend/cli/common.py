"""Helpers shared by CLI commands: finding the servers config, starting the backend."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..config import ServersConfig, load_servers_config
from ..errors import ConfigError, NoServerAvailable
from ..models import Health
from ..runtime import Orchestrator

USER_CONFIG = Path("~/.config/ryven-comfy/servers.yaml")


def default_servers_file() -> Path | None:
    """``$RYVEN_COMFY_SERVERS``, else ``~/.config/ryven-comfy/servers.yaml``, else the config
    of the local CPU servers if they were ever started (``local-servers up``)."""
    env = os.environ.get("RYVEN_COMFY_SERVERS")
    if env:
        return Path(env)
    p = USER_CONFIG.expanduser()
    if p.is_file():
        return p
    local = _local_servers_file()
    return local if local.is_file() else None


def _local_servers_file() -> Path:
    from ..local.instances import default_state_dir

    return default_state_dir() / "servers.yaml"


def resolve_servers(path: str | Path | None) -> ServersConfig:
    p = Path(path) if path else default_servers_file()
    if p is None:
        raise ConfigError(
            "no servers config: pass --servers FILE, set RYVEN_COMFY_SERVERS, "
            f"or write {USER_CONFIG} (or run 'ryven-comfy local-servers up --count 3' to use local CPU servers)"
        )
    return load_servers_config(p)


def start_backend(config: ServersConfig, *, policy: str | None = None) -> Orchestrator:
    """Start the backend and fail with one clear message if no server answers."""
    orch = Orchestrator(config, policy=policy, queue_timeout=30.0).start(wait_checked=True)
    snaps = orch.servers()
    if not any(s.health in (Health.ONLINE, Health.DEGRADED) for s in snaps):
        orch.close()
        detail = "; ".join(f"{s.id} ({s.url}): {s.last_error or s.health.value}" for s in snaps)
        raise NoServerAvailable(f"no reachable server: {detail}")
    return orch


def servers_file_or_local(explicit: str | None, local: int) -> Path:
    """The servers config to use; starts ``local`` local CPU servers when none is configured."""
    servers_file = explicit or default_servers_file()
    if servers_file is not None and Path(servers_file) != _local_servers_file():
        return Path(servers_file)
    from ..local.instances import default_state_dir, start_local_servers

    print(f"no servers configured: starting {local} local CPU ComfyUI servers "
          "(the first time installs ComfyUI, a few minutes)…", file=sys.stderr)
    started = start_local_servers(local, progress=lambda m: print(m, file=sys.stderr))
    print("local servers: " + ", ".join(s.url for s in started), file=sys.stderr)
    print("stop them with: ryven-comfy local-servers down", file=sys.stderr)
    return default_state_dir() / "servers.yaml"
