"""Orchestrator: the typed face of the core, and the only way into its loop from another thread.

The asyncio loop and the pool live in one worker thread. Every public method may be
called from any thread and none waits on the loop: reads (servers, jobs, node
definitions) come from immutable snapshots the worker thread keeps up to date, one per
change; work is handed to the loop and answered with a ``concurrent.futures.Future``.
Events reach subscribers through a *dispatcher* of their choice — e.g. a GUI passes one
that re-posts the call onto its own thread; the default runs the callback on the worker
thread, so it must be quick.

One class, written in parts by what they hold: ``worker`` (the thread, its loop, snapshots,
subscribe), ``face_reads`` (snapshots, node definitions, metrics), ``face_jobs`` (submit, check,
cancel, outputs; ``JobHandle``), ``face_servers`` (servers at run time, ``/userdata``).
"""
from __future__ import annotations

from .config import ServersConfig
from .errors import NoServerAvailable
from .face_jobs import JobHandle, OrchestratorJobs
from .face_reads import MetricsSeries, usable
from .face_servers import OrchestratorServers
from .worker import Dispatcher

__all__ = ["Dispatcher", "JobHandle", "MetricsSeries", "Orchestrator", "usable"]


class Orchestrator(OrchestratorJobs, OrchestratorServers):
    """Runs a ServerPool on a background thread; usable from any thread, Qt-free.

    ``Orchestrator(config, *, policy=None, queue_timeout=None)``; :meth:`open` starts one and
    checks that a server answers.
    """

    @classmethod
    def open(cls, config: ServersConfig, *, policy: str | None = None, queue_timeout: float = 30.0,
             require_server: bool = True) -> Orchestrator:
        """Start a backend and wait for every server's first health check.

        With ``require_server``, raise NoServerAvailable naming each server and why it
        cannot be used when none is reachable (the backend is closed again first).
        """
        orch = cls(config, policy=policy, queue_timeout=queue_timeout).start(wait_checked=True)
        snaps = orch.servers()
        if require_server and not any(usable(s) for s in snaps):
            orch.close()
            detail = "; ".join(f"{s.id} ({s.url}): {s.last_error or s.health.value}" for s in snaps)
            raise NoServerAvailable(f"no reachable server: {detail or 'none configured'}")
        return orch
