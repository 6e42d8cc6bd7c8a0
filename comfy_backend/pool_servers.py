"""ServerPool's servers: a handle per configured server, and servers added, edited, removed at run time."""
from __future__ import annotations

import asyncio
import logging

from .config import ServerConfig
from .errors import ComfyBackendError
from .events import ServerEvent
from .models import Health
from .pool_state import PoolState
from .server import ServerHandle

# Every part of the pool logs under one name, the one users know from its log lines.
log = logging.getLogger("comfy_backend.pool")


class PoolServers(PoolState):
    """Create a server's handle; add, replace and retire servers while the pool runs."""

    def _add_handle(self, sc: ServerConfig) -> ServerHandle:
        assert self._session is not None
        order = max((h.order for h in self.servers.values()), default=-1) + 1
        sc._limits = self.settings.limits()
        handle = ServerHandle(sc, self._session, self.settings, order, self._server_changed, self._defs_changed,
                              self._abandoned_fate)
        self.servers[sc.id] = handle
        handle.start()
        return handle

    # -- servers changed at run time -----------------------------------------------
    async def add_server(self, sc: ServerConfig) -> None:
        """Add a server (ComfyBackendError if its id is taken); it starts being checked at once."""
        if sc.id in self.servers or sc.id in self._retiring:
            raise ComfyBackendError(f"a server with id '{sc.id}' is already in the pool")
        self._add_handle(sc)
        log.info("server %s added (%s)", sc.id, sc.url)
        self._wake.set()

    async def replace_server(self, sc: ServerConfig) -> None:
        """Apply an edited server config. Name, tags, limits and enabled apply at once; a new url,
        auth or TLS setting gets a new connection once the jobs running on the old one have ended
        (no new job starts there meanwhile)."""
        old = self.servers.get(sc.id)
        if old is None:
            raise ComfyBackendError(f"no server with id '{sc.id}' in the pool")
        connection = ("url", "auth", "ca_file", "verify_tls")
        sc._limits = self.settings.limits()
        if all(getattr(old.config, f) == getattr(sc, f) for f in connection):
            was_enabled = old.config.enabled
            old.config = sc
            if sc.enabled and not was_enabled:
                old.health = Health.UNKNOWN
                if old._task is None:
                    old.start()
                old.check_soon()
            elif not sc.enabled:
                old.health = Health.DISABLED
            log.info("server %s edited", sc.id)
            self._server_changed(old)
            self._wake.set()
            return
        await self._retire(old)
        self._add_handle(sc)
        log.info("server %s reconnected with its new settings (%s)", sc.id, sc.url)
        self._wake.set()

    async def remove_server(self, server_id: str) -> None:
        """Take a server out: no new job goes there; jobs running on it finish there (or fail over,
        as with any server that goes away); then its connections close."""
        handle = self.servers.get(server_id)
        if handle is None:
            raise ComfyBackendError(f"no server with id '{server_id}' in the pool")
        await self._retire(handle)
        if self._listeners:
            self._emit(ServerEvent(handle.snapshot(removed=True)))
        log.info("server %s removed", server_id)
        self._wake.set()

    async def _retire(self, handle: ServerHandle) -> None:
        """Stop new work on ``handle``, wait for its jobs, close it and drop it from ``servers``."""
        handle.config = handle.config.model_copy(update={"enabled": False})
        handle.config._limits = self.settings.limits()
        if handle.in_flight:
            log.info("server %s: waiting for %d job(s) running there before it is let go",
                     handle.id, len(handle.in_flight))
        self._server_changed(handle)
        while handle.in_flight and not self._closed:
            await asyncio.sleep(0.2)
        await handle.close()
        if self.servers.get(handle.id) is handle:
            del self.servers[handle.id]
        self._health_seen.pop(handle.id, None)
        for job in self._waiting:
            job.capability.pop(handle.id, None)
