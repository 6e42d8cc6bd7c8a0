"""The Orchestrator's servers at run time: add, edit, remove and try servers; their web UI's user files."""
from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .config import ServerConfig
from .errors import ComfyBackendError
from .probe import probe_server
from .worker import OrchestratorBase

T = TypeVar("T")


class OrchestratorServers(OrchestratorBase):
    """Change the pool's servers while it runs; read and write a server's ``/userdata`` files."""

    # -- servers at run time ------------------------------------------------------
    def add_server(self, server: ServerConfig) -> cf.Future[None]:
        """Add a server to the running pool (fails if its id is taken); it is checked at once."""
        return self._run_coroutine(self._started_pool.add_server(server))

    def replace_server(self, server: ServerConfig) -> cf.Future[None]:
        """Apply an edited server (same id). Name, tags, limits and enabled apply at once; a new
        url, auth or TLS setting once the jobs running there have ended."""
        return self._run_coroutine(self._started_pool.replace_server(server))

    def remove_server(self, server_id: str) -> cf.Future[None]:
        """Take a server out of the pool; the future ends when its running jobs have ended there
        (a server that dies meanwhile fails its jobs over as usual) and it is gone."""
        return self._run_coroutine(self._started_pool.remove_server(server_id))

    def test_server(self, server: ServerConfig) -> cf.Future[dict[str, Any]]:
        """Try a server config without adding it: ``{"ok", "reachable", "auth_ok", "version",
        "agent", "latency_ms", "error"}`` (never raises for an unreachable server)."""
        return self._run_coroutine(probe_server(server, self._started_pool.session))

    # -- the web UI's workflow store (/userdata) -----------------------------------
    def server_config(self, server_id: str) -> ServerConfig | None:
        """The config a server runs with now (None for an unknown id): what a front needs to open its web UI."""
        # a plain dict read: atomic, and the config object is replaced, never mutated
        handle = self._started_pool.servers.get(server_id)
        return handle.config if handle is not None else None

    async def _userdata(self, server_id: str, call: Callable[[Any], Awaitable[T]]) -> T:
        # the pool's server table is read on the loop, where it changes
        handle = self._started_pool.servers.get(server_id)
        if handle is None:
            raise ComfyBackendError(f"no server {server_id!r}")
        return await call(handle.client)

    def userdata_get(self, server_id: str, path: str) -> cf.Future[bytes]:
        """The bytes of one of a server's user files, e.g. ``workflows/x.json``."""
        return self._run_coroutine(self._userdata(server_id, lambda c: c.userdata_get(path)))

    def userdata_put(self, server_id: str, path: str, data: bytes, *, overwrite: bool = True) -> cf.Future[str]:
        """Write one of a server's user files; the future gives the path the server stored."""
        return self._run_coroutine(self._userdata(server_id, lambda c: c.userdata_put(path, data, overwrite=overwrite)))

    def userdata_list(self, server_id: str, directory: str) -> cf.Future[list[str]]:
        """A server's user file paths under ``directory`` (recursive, relative to it)."""
        return self._run_coroutine(self._userdata(server_id, lambda c: c.userdata_list(directory)))
