"""ServerPool: the async heart. Owns the session, the servers, the job queue and dispatch.

Lives on one event loop (the runtime's worker thread, or a test's loop).
Jobs wait in our own queue; a dispatcher pass runs whenever something changes
(a job arrives or ends, a server's health or queue changes) and hands jobs to
servers as the policy says. Failed attempts go back to the queue with backoff,
avoiding the server they failed on; a job ends exactly once.

One class, written in parts by what they hold: ``pool_state`` (tables, events, outputs in
hand), ``pool_servers`` (handles; servers changed at run time), ``pool_dispatch`` (the
dispatch loop), ``pool_attempts`` (an attempt, retries and failover); this module starts and
closes the pool and takes jobs in.
"""
from __future__ import annotations

import asyncio

import aiohttp

from .errors import ComfyBackendError, JobCancelled, JobError, NoServerAvailable
from .jobs import Job, JobSpec
from .models import JobState, OutputRef
from .pool_dispatch import LOOKAHEAD, PoolDispatch
from .pool_servers import PoolServers
from .pool_state import BLOB_BYTES, CLOSED, QUEUE_TIMEOUT

__all__ = ["BLOB_BYTES", "LOOKAHEAD", "QUEUE_TIMEOUT", "ServerPool"]


class ServerPool(PoolDispatch, PoolServers):
    """Schedules jobs across servers; one instance per event loop.

    ``ServerPool(config, *, policy=None, queue_timeout=QUEUE_TIMEOUT)``.
    """

    # -- lifecycle ---------------------------------------------------------------
    async def start(self, wait_checked: bool = True) -> ServerPool:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=32, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector)
        for sc in self.config.servers:
            self._add_handle(sc)
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="dispatcher")
        if wait_checked:
            await asyncio.gather(*(s.wait_checked() for s in self.servers.values()))
        return self

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pool's one HTTP session (for a probe of a server not in the pool)."""
        if self._session is None:
            raise ComfyBackendError("the pool is not started")
        return self._session

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._dispatcher:
            self._dispatcher.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dispatcher:
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        for job in self.jobs.values():
            job.finish(JobState.CANCELLED, CLOSED, abandoned=True)
        await asyncio.gather(*(s.close() for s in self.servers.values()), return_exceptions=True)
        if self._session:
            await self._session.close()

    async def __aenter__(self) -> ServerPool:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- public API ----------------------------------------------------------------
    def submit(self, spec: JobSpec, job_id: str | None = None, created: float | None = None) -> Job:
        """Queue a job (``job_id``/``created`` when the caller made them on its own thread)."""
        if self._closed:
            raise ComfyBackendError("the pool is closed")
        job = Job(spec, asyncio.get_running_loop(), self.settings.max_attempts, job_id, created)
        t = spec.target
        if t.server and t.server not in self.servers:
            job.finish(JobState.FAILED, JobError.from_exception(NoServerAvailable(f"no server with id '{t.server}' in the config")))
        else:
            self.jobs[job.id] = job
            self._waiting.append(job)
            self._wake.set()
        self._job_changed(job, "state")
        return job

    async def run(self, spec: JobSpec) -> Job:
        job = self.submit(spec)
        await asyncio.shield(job.future)
        return job

    def cancel(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.state.final:
            return False
        job.cancel_requested = True
        job.cancel_event.set()
        if job.state is JobState.QUEUED and job in self._waiting:
            self._waiting.remove(job)
            job.finish(JobState.CANCELLED, JobError.from_exception(JobCancelled("cancelled before it started")))
            self._job_changed(job, "state")
        return True

    async def fetch_output(self, ref: OutputRef) -> bytes:
        """The bytes of an output: from memory when in hand (whatever its server does now), else
        downloaded from its server."""
        data = self._blobs.get(ref)
        if data is not None:
            self._blobs.move_to_end(ref)
            return data
        if ref.type == "websocket":
            raise ComfyBackendError(f"image {ref.filename} received over WebSocket is no longer kept")
        server = self.servers.get(ref.server)
        if server is None:
            raise ComfyBackendError(f"output {ref.filename} is on unknown server '{ref.server}'")
        return await server.client.view(ref.filename, ref.subfolder, ref.type)
