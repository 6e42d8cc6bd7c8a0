"""Local CPU servers as the default: used when no servers config is found."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .discovery import find_servers_file, local_servers_file
from .local.instances import start_local_servers


def servers_file_or_local(explicit: str | None, count: int, progress: Callable[[str], None]) -> Path:
    """The servers config to use: ``explicit``, else a configured one; with none (or only the
    local servers' own), start ``count`` local CPU ComfyUI servers and return their config.

    ``progress`` receives one line per step (installing takes minutes the first time).
    """
    servers_file = Path(explicit) if explicit else find_servers_file()
    if servers_file is not None and servers_file != local_servers_file():
        return servers_file
    progress(f"no servers configured: starting {count} local CPU ComfyUI servers "
             "(the first time installs ComfyUI, a few minutes)…")
    started = start_local_servers(count, progress=progress)
    progress("local servers: " + ", ".join(s.url for s in started))
    progress("stop them with: ryven-comfy local-servers down")
    return local_servers_file()
