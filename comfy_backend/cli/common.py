"""Helpers shared by CLI commands; the work is done by the core's public API."""
from __future__ import annotations

import sys
from pathlib import Path

from ..config import ServersConfig
from ..discovery import USER_CONFIG, find_servers_file, resolve_servers_config
from ..local_default import servers_file_or_local as _servers_file_or_local
from ..runtime import Orchestrator

__all__ = ["USER_CONFIG", "default_servers_file", "resolve_servers", "servers_file_or_local", "start_backend"]

#: kept for callers of the old names (the core's are find_servers_file / resolve_servers_config)
default_servers_file = find_servers_file
resolve_servers = resolve_servers_config


def start_backend(config: ServersConfig, *, policy: str | None = None) -> Orchestrator:
    """Start the backend and fail with one clear message if no server answers."""
    return Orchestrator.open(config, policy=policy)


def servers_file_or_local(explicit: str | None, local: int) -> Path:
    """The servers config to use; starts ``local`` local CPU servers (progress on stderr) when none is configured."""
    return _servers_file_or_local(explicit, local, lambda m: print(m, file=sys.stderr))
