"""Local CPU ComfyUI servers: install once (``provision``) and run several (``instances``).

Used by the ``local-servers`` CLI command and by the ``real`` test fixtures.
"""
from __future__ import annotations

from .instances import (
    LocalServer,
    default_state_dir,
    kill_local_server,
    local_servers_status,
    restart_local_server,
    start_local_servers,
    stop_local_servers,
)
from .provision import ComfyInstall, default_cache_root, ensure_comfyui

__all__ = [
    "ComfyInstall",
    "LocalServer",
    "default_cache_root",
    "default_state_dir",
    "ensure_comfyui",
    "kill_local_server",
    "local_servers_status",
    "restart_local_server",
    "start_local_servers",
    "stop_local_servers",
]
