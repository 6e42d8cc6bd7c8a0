"""Local CPU servers as the default: used when no servers config is found."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .discovery import find_servers_file, local_servers_file
from .local.instances import local_servers_status, start_local_servers


def local_servers_running(count: int) -> bool:
    """True when at least ``count`` recorded local instances are ours and answer (nothing is started)."""
    rows = local_servers_status()
    return sum(1 for r in rows if r["ready"]) >= count and local_servers_file().is_file()


def servers_file_or_local(explicit: str | None, count: int, progress: Callable[[str], None]) -> Path:
    """The servers config to use: ``explicit`` (always, even the local servers' own file), else a
    configured one; with none (or only the local servers' own), use the local CPU servers: those
    already running as they are, else start ``count`` of them and return their config.

    ``progress`` receives one line per step, saying which of these happened (installing takes
    minutes the first time).
    """
    if explicit:
        progress(f"servers: {explicit}")
        return Path(explicit)
    servers_file = find_servers_file()
    if servers_file is not None and servers_file != local_servers_file():
        progress(f"servers: {servers_file}")
        return servers_file
    if local_servers_running(count):
        progress(f"no servers configured: using the {count} local CPU ComfyUI servers already running "
                 f"({local_servers_file()})")
        return local_servers_file()
    progress(f"no servers configured: starting {count} local CPU ComfyUI servers "
             "(the first time installs ComfyUI, a few minutes)…")
    started = start_local_servers(count, progress=progress)
    progress("local servers: " + ", ".join(s.url for s in started))
    progress("stop them with: ryven-comfy local-servers down")
    return local_servers_file()
