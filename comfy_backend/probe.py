"""Test a server config without adding it to the pool: reachable? credentials accepted? version? agent?"""
from __future__ import annotations

import time
from typing import Any

import aiohttp

from .agent import AGENT_ROUTE
from .client import ComfyClient
from .config import ServerConfig
from .errors import ComfyBackendError, ServerError, ServerHTTPError

PROBE_TIMEOUT_S = 5.0


async def probe_server(server: ServerConfig, session: aiohttp.ClientSession,
                       timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """``{"ok", "reachable", "auth_ok", "version", "agent", "latency_ms", "error"}`` for ``server``.

    Never raises for a server that cannot be used: the reason is in ``error``.
    """
    out: dict[str, Any] = {"ok": False, "reachable": False, "auth_ok": None, "version": None,
                           "agent": None, "latency_ms": None, "error": None}
    client = ComfyClient(server, session, timeout=timeout)
    t0 = time.monotonic()
    try:
        stats = await client.request("GET", "/system_stats", timeout=timeout)
    except ServerHTTPError as exc:
        out["reachable"] = exc.status > 0
        out["auth_ok"] = False if exc.status in (401, 403) else None
        out["error"] = ("credentials refused: " if exc.status in (401, 403) else "") + str(exc)
        return out
    except (ServerError, ComfyBackendError) as exc:  # unreachable, timeout, secret file missing
        out["error"] = str(exc)
        return out
    out["latency_ms"] = round((time.monotonic() - t0) * 1000.0, 1)
    out["reachable"] = out["auth_ok"] = True
    system = stats.get("system") if isinstance(stats, dict) else None
    if not isinstance(system, dict):
        out["error"] = "answers, but /system_stats is not ComfyUI's (no 'system' object)"
        return out
    version = system.get("comfyui_version")
    out["version"] = version if isinstance(version, str) else None
    try:
        await client.request("GET", AGENT_ROUTE, timeout=timeout)
        out["agent"] = True
    except ServerHTTPError as exc:
        out["agent"] = False if exc.status == 404 else None
    except ServerError:
        out["agent"] = None
    out["ok"] = True
    return out
