"""ServerPool's state — servers, jobs, the waiting queue, outputs in hand — and the events it sends.

The base of ``pool.ServerPool``: every table the other parts (``pool_servers``, ``pool_dispatch``,
``pool_attempts``) read and change, and the one way a change is announced (``_emit``).
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp

from .config import ServersConfig
from .errors import ErrorKind, JobError
from .events import Event, JobEvent, NodeDefsEvent, ServerEvent
from .jobs import Job
from .models import Health, OutputRef
from .scheduler import Estimator, Policy, make_policy
from .server import ServerHandle

# Every part of the pool logs under one name, the one users know from its log lines.
log = logging.getLogger("comfy_backend.pool")

QUEUE_TIMEOUT = 120.0     # how long a job waits for any eligible server to appear
# Output files in hand (received over WebSocket, or downloaded as part of a job with
# fetch_outputs), kept for fetch_output / save_outputs; the oldest go first past these bounds.
BLOB_BYTES = 512 * 1024 * 1024
_BLOB_COUNT = 4096


class PoolState:
    """The pool's tables and its event listeners; one instance per event loop."""

    def __init__(self, config: ServersConfig, *, policy: Policy | str | None = None, queue_timeout: float = QUEUE_TIMEOUT) -> None:
        self.config = config
        self.settings = config.defaults
        self.policy: Policy = make_policy(policy or self.settings.policy) if not hasattr(policy, "choose") else policy  # type: ignore[assignment]
        self.estimator = Estimator()
        self.queue_timeout = queue_timeout
        self.servers: dict[str, ServerHandle] = {}
        self.jobs: dict[str, Job] = {}
        self._waiting: list[Job] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._blobs: OrderedDict[OutputRef, bytes] = OrderedDict()
        self._blob_bytes = 0
        self._closed = False
        self._health_seen: dict[str, Health] = {}  # to log each server's state changes once
        self._retiring: dict[str, asyncio.Task[None]] = {}

    # -- events --------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")

    def _server_changed(self, server: ServerHandle) -> None:
        self._wake.set()
        before = self._health_seen.get(server.id)
        if before is not server.health:
            self._health_seen[server.id] = server.health
            level = logging.WARNING if server.health is Health.OFFLINE and before is not None else logging.INFO
            # degraded reasons are logged where they arise (once per change); offline ones here
            why = f" ({server.last_error})" if server.last_error and server.health is Health.OFFLINE else ""
            log.log(level, "server %s: %s → %s%s", server.id, before.value if before else "start",
                    server.health.value, why)
        if self._listeners:
            self._emit(ServerEvent(server.snapshot()))

    def _defs_changed(self, server: ServerHandle) -> None:
        if self._listeners:
            self._emit(NodeDefsEvent(server.id, server.defs_version))

    def _abandoned_fate(self, job_id: str, prompt_id: str, what: str, executed: bool) -> None:
        """What became of a prompt a job left behind on a server: shown on that attempt."""
        job = self.jobs.get(job_id)
        if job is not None and job.note_afterwards(prompt_id, what, duplicate=executed):
            self._job_changed(job, "attempt")

    def _job_changed(self, job: Job, kind: str) -> None:
        if self._listeners:
            self._emit(JobEvent(job.snapshot(), kind))

    # -- outputs in hand -----------------------------------------------------------
    def held_output(self, ref: OutputRef) -> bytes | None:
        """The bytes of an output already in hand (fetched with its job, or received over
        WebSocket), or None: then it must be downloaded from its server."""
        data = self._blobs.get(ref)
        if data is not None:
            self._blobs.move_to_end(ref)
        return data

    def _store_blob(self, ref: OutputRef, data: bytes) -> None:
        old = self._blobs.pop(ref, None)
        if old is not None:
            self._blob_bytes -= len(old)
        self._blobs[ref] = data
        self._blob_bytes += len(data)
        while self._blobs and (self._blob_bytes > BLOB_BYTES or len(self._blobs) > _BLOB_COUNT):
            _, dropped = self._blobs.popitem(last=False)
            self._blob_bytes -= len(dropped)

    # -- tasks ---------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


CLOSED = JobError(ErrorKind.CANCELLED, "the pool was closed")
