"""The Orchestrator's reads: server and job snapshots, node definitions, metrics.

Snapshots and cached node definitions are read without waiting (any thread); what must wait
(definitions not loaded yet, metrics kept on the loop) is answered with a future.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
from collections.abc import Sequence
from typing import Any

from .errors import NoServerAvailable
from .metrics import metrics_report
from .models import Health, JobSnapshot, ServerSnapshot
from .server import ServerHandle
from .worker import OrchestratorBase

#: server id -> field -> [(time, value)]
MetricsSeries = dict[str, dict[str, list[tuple[float, float | None]]]]
DEFS_WAIT_S = 120.0  # how long fetch_node_definitions waits for a usable server's definitions to load


def usable(snap: ServerSnapshot) -> bool:
    """Can this server take jobs now (enabled, online or degraded)?"""
    return snap.enabled and snap.health in (Health.ONLINE, Health.DEGRADED)


class OrchestratorReads(OrchestratorBase):
    """Snapshots of servers and jobs, node definitions per server, metrics series."""

    # -- reads (never wait) -------------------------------------------------------
    def servers(self) -> list[ServerSnapshot]:
        """Every configured server's latest snapshot, in config order."""
        with self._lock:
            return list(self._server_snaps.values())

    def server(self, server_id: str) -> ServerSnapshot | None:
        """One server's latest snapshot (None for an unknown id)."""
        with self._lock:
            return self._server_snaps.get(server_id)

    def job(self, job_id: str) -> JobSnapshot | None:
        """A job's latest snapshot (None for an unknown id)."""
        with self._lock:
            return self._job_snaps.get(job_id)

    def jobs(self) -> list[JobSnapshot]:
        """Every job's latest snapshot, oldest first."""
        with self._lock:
            return list(self._job_snaps.values())

    def node_definitions(self, server_id: str | None = None) -> dict[str, Any] | None:
        """A server's ``/object_info`` as last loaded (read-only; None if not loaded yet).

        With no id: a usable server's, preferring the first in config order.
        """
        found = self._defs_of(server_id)
        return found[1] if found else None

    def _defs_of(self, server_id: str | None) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            if server_id is not None:
                entry = self._defs.get(server_id)
                return (server_id, entry[1]) if entry else None
            for sid, snap in self._server_snaps.items():
                if usable(snap) and sid in self._defs:
                    return sid, self._defs[sid][1]
        return None

    def all_node_definitions(self) -> dict[str, dict[str, Any]]:
        """Server id → ``/object_info`` of every usable server whose definitions are loaded."""
        with self._lock:
            return {sid: self._defs[sid][1] for sid, snap in self._server_snaps.items() if usable(snap) and sid in self._defs}

    def fetch_node_definitions(self, server_id: str | None = None) -> cf.Future[tuple[str, dict[str, Any]]]:
        """(server id, ``/object_info``) once loaded: of ``server_id``, else of a usable server
        (the first in config order that has them). Fails with NoServerAvailable when no
        usable server can give them."""
        found = self._defs_of(server_id)
        if found is not None:
            fut: cf.Future[tuple[str, dict[str, Any]]] = cf.Future()
            fut.set_result(found)
            return fut
        return self._run_coroutine(self._wait_defs(server_id))

    async def _wait_defs(self, server_id: str | None) -> tuple[str, dict[str, Any]]:
        servers = self._started_pool.servers
        if server_id is not None and server_id not in servers:
            raise NoServerAvailable(f"no server with id '{server_id}' in the config")
        candidates = [servers[server_id]] if server_id is not None else list(servers.values())
        await asyncio.gather(*(h.wait_checked() for h in candidates))
        ready = [h for h in candidates if h.usable]
        if not ready:
            detail = "; ".join(f"{h.id}: {h.last_error or h.health.value}" for h in candidates)
            raise NoServerAvailable(f"no usable server to read node definitions from ({detail})")
        loaded = [h for h in ready if h.node_defs is not None]
        if not loaded:
            waits = {asyncio.ensure_future(h.wait_node_defs()): h for h in ready}
            done, pending = await asyncio.wait(waits, timeout=DEFS_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            loaded = sorted((waits[t] for t in done), key=lambda h: h.order)
            if not loaded:
                names = ", ".join(h.id for h in ready)
                raise NoServerAvailable(f"the node definitions of {names} did not load within {DEFS_WAIT_S:g} s")
        first: ServerHandle = loaded[0]
        assert first.node_defs is not None
        return first.id, first.node_defs

    # -- metrics ------------------------------------------------------------------
    def metrics_series(self, fields: Sequence[str], server_id: str | None = None,
                       since: float | None = None) -> cf.Future[MetricsSeries]:
        """Time series of metric ``fields`` (e.g. ``latency_ms``, ``queue_pending``, ``vram_used``,
        ``cpu_percent``; see ``metrics.SERIES_FIELDS``): server id → field → [(time, value)], for one
        server or all; only samples taken after ``since`` (wall time) when given, so a chart can
        fetch what is new."""
        def read() -> MetricsSeries:
            servers = self._started_pool.servers
            chosen = [servers[server_id]] if server_id is not None and server_id in servers else (
                [] if server_id is not None else list(servers.values()))
            return {h.id: {f: h.metrics.series(f, since) for f in fields} for h in chosen}

        return self._call(read)

    def metrics_report(self, since: float | None = None) -> cf.Future[dict[str, Any]]:
        """``{"servers": {id: {"samples": [...], "jobs": {...}}}}`` (None where a figure is unknown):
        what ``workflow run --metrics FILE`` writes; samples older than ``since`` (wall time) left out."""
        return self._call(lambda: metrics_report({sid: h.metrics for sid, h in self._started_pool.servers.items()},
                                                 since))
