"""ServerPool: the async heart. Owns the session, the servers, the job queue and dispatch.

Lives on one event loop (the runtime's worker thread, or a test's loop).
Jobs wait in our own queue; a dispatcher pass runs whenever something changes
(a job arrives or ends, a server's health or queue changes) and hands jobs to
servers as the policy says. Failed attempts go back to the queue with backoff,
avoiding the server they failed on; a job ends exactly once.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp

from .aio import wait_event
from .attempt import AttemptRunner
from .config import ServerConfig, ServersConfig
from .errors import (
    ComfyBackendError,
    ErrorKind,
    JobCancelled,
    JobError,
    NoServerAvailable,
    ServerError,
    WorkflowError,
)
from .events import Event, JobEvent, NodeDefsEvent, PreviewEvent, ServerEvent
from .jobs import Job, JobSpec
from .models import Attempt, Health, JobState, OutputRef
from .scheduler import Estimator, Policy, ServerLoad, make_policy, missing_capabilities
from .server import ServerHandle

log = logging.getLogger(__name__)

LOOKAHEAD = 64            # waiting jobs considered per dispatch pass
QUEUE_TIMEOUT = 120.0     # how long a job waits for any eligible server to appear
# Output files in hand (received over WebSocket, or downloaded as part of a job with
# fetch_outputs), kept for fetch_output / save_outputs; the oldest go first past these bounds.
BLOB_BYTES = 512 * 1024 * 1024
_BLOB_COUNT = 4096


class ServerPool:
    """Schedules jobs across servers; one instance per event loop."""

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

    def _add_handle(self, sc: ServerConfig) -> ServerHandle:
        assert self._session is not None
        order = max((h.order for h in self.servers.values()), default=-1) + 1
        sc._limits = self.settings.limits()
        handle = ServerHandle(sc, self._session, self.settings, order, self._server_changed, self._defs_changed,
                              self._abandoned_fate)
        self.servers[sc.id] = handle
        handle.start()
        return handle

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pool's one HTTP session (for a probe of a server not in the pool)."""
        if self._session is None:
            raise ComfyBackendError("the pool is not started")
        return self._session

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
            job.finish(JobState.CANCELLED, _CLOSED, abandoned=True)
        await asyncio.gather(*(s.close() for s in self.servers.values()), return_exceptions=True)
        if self._session:
            await self._session.close()

    async def __aenter__(self) -> ServerPool:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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

    # -- dispatch --------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while not self._closed:
            await wait_event(self._wake, 0.5)
            self._wake.clear()
            try:
                self._dispatch_pass()
            except Exception:
                log.exception("dispatch pass failed")

    def _eligible(self, job: Job, server: ServerHandle) -> tuple[bool, str] | None:
        """None if the server can run the job now, else (transient?, why not)."""
        t = job.spec.target
        if t.server and server.id != t.server:
            return False, "not the pinned server"
        if not server.config.enabled:
            return False, "disabled"
        if t.tags and not set(t.tags) <= set(server.config.tags):
            return False, "lacks tags " + ", ".join(sorted(set(t.tags) - set(server.config.tags)))
        if not server.usable:
            return True, f"{server.health.value}" + (f" ({server.last_error})" if server.last_error else "")
        info = server.node_defs
        if info is None or not server.info_ready:
            return True, "node list not loaded yet"
        cached = job.capability.get(server.id)
        if cached is None or cached[0] != server.info_version:
            skip = {(u.node_id, u.input) for u in job.spec.uploads}
            try:
                prompt = job.prompt_for(server.id, server.info_version, info)
            except WorkflowError as exc:
                cached = (server.info_version, f"cannot convert the workflow for it: {exc}")
            else:
                missing = missing_capabilities(prompt, info, server.models, skip)
                cached = (server.info_version, "; ".join(missing[:3]) if missing else None)
            job.capability[server.id] = cached
        return None if cached[1] is None else (False, cached[1])

    def _dispatch_pass(self) -> None:
        if not self._waiting:
            return
        now = time.monotonic()
        loads: dict[str, float] = {}
        free: dict[str, int] = {}
        for s in self.servers.values():
            loads[s.id] = self._backlog(s)
            free[s.id] = s.free_slots
        usable = [s.id for s in self.servers.values() if s.usable]
        stuck = self._anyone_stuck(now)  # a job past its queue timeout must be looked at to fail it
        for job in list(self._waiting[:LOOKAHEAD]):
            if not stuck and not any(free[sid] > 0 for sid in usable):
                break  # every slot is taken: no job can start in this pass
            if job.not_before > now:
                continue
            reasons: dict[str, tuple[bool, str]] = {}
            cands: list[ServerLoad] = []
            for s in self.servers.values():
                why = self._eligible(job, s)
                if why:
                    reasons[s.id] = why
                    continue
                est = self.estimator.estimate(s.id, job.key)
                cands.append(ServerLoad(s.id, s.order, free[s.id], len(s.in_flight), s.queue_running + s.queue_pending,
                                        loads[s.id], est, s.last_used))
            if not cands:
                self._maybe_give_up(job, reasons, now)
                continue
            fresh = [c for c in cands if c.id not in job.failed_on] or cands
            choice = self.policy.choose(fresh)
            if choice is None:
                continue
            loads[choice.id] += choice.estimate
            if free[choice.id] <= 0:
                continue  # reserved: waits for its best server
            free[choice.id] -= 1
            self._waiting.remove(job)
            self._start_attempt(job, self.servers[choice.id])

    def _anyone_stuck(self, now: float) -> bool:
        """Is a waiting job past its queue timeout (so the pass must run to fail it)?"""
        return any(now - j.waiting_since > self.queue_timeout for j in self._waiting[:LOOKAHEAD])

    def _backlog(self, s: ServerHandle) -> float:
        """Expected seconds until the work already on this server is done."""
        total = 0.0
        for jid in s.in_flight:
            job = self.jobs.get(jid)
            if job is None:
                continue
            est = self.estimator.estimate(s.id, job.key)
            total += est * (1.0 - job.progress.fraction) if job.state is JobState.RUNNING else est
        return total + s.foreign * self.estimator.typical(s.id)

    def _maybe_give_up(self, job: Job, reasons: dict[str, tuple[bool, str]], now: float) -> None:
        detail = "; ".join(f"{sid}: {why}" for sid, (_, why) in reasons.items())
        job.unschedulable_reason = detail
        permanent = not any(transient for transient, _ in reasons.values())
        if permanent and not job.capabilities_refreshed:
            # Models or nodes may have been added since we read the servers' lists: look again once.
            job.capabilities_refreshed = True
            for server in self.servers.values():
                self._spawn(server.refresh_capabilities())
            return
        if permanent or now - job.waiting_since > self.queue_timeout:
            self._waiting.remove(job)
            msg = f"no server can run '{job.label}' ({job.spec.target.describe()}): {detail}"
            job.finish(JobState.FAILED, JobError.from_exception(NoServerAvailable(msg)))
            self._job_changed(job, "state")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_attempt(self, job: Job, server: ServerHandle) -> None:
        attempt = Attempt(server=server.id, prompt_id=str(uuid.uuid4()))
        job.submitted(attempt)
        server.in_flight.add(job.id)
        server.last_used = time.monotonic()
        self._job_changed(job, "state")
        self._spawn(self._run_attempt(job, server, attempt))

    async def _run_attempt(self, job: Job, server: ServerHandle, attempt: Attempt) -> None:
        runner = AttemptRunner(
            job,
            server,
            attempt,
            stall_timeout=self.settings.stall_timeout,
            attempt_timeout=self.settings.attempt_timeout,
            on_update=lambda kind: self._job_changed(job, kind),
            store_blob=self._store_blob,
            on_preview=lambda jid, img: self._emit(PreviewEvent(jid, img.node_id, img.mime, img.data)),
        )
        try:
            outputs = await runner.run()
        except JobCancelled as exc:
            job.finish(JobState.CANCELLED, JobError.from_exception(exc, server=server.id))
        except ServerError as exc:
            server.metrics.record_failure()
            if exc.retryable:
                # The job leaves this server without a result: its prompt may still be queued
                # or running there (hung, lost answer): withdraw it before it runs for nobody.
                server.abandon(job.id, attempt.prompt_id)
            self._after_failure(job, server, JobError.from_exception(exc, server=server.id))
        except ComfyBackendError as exc:
            job.finish(JobState.FAILED, JobError.from_exception(exc, server=server.id))
        except asyncio.CancelledError:
            job.finish(JobState.CANCELLED, _CLOSED, abandoned=True)
            raise
        except Exception as exc:
            log.exception("job %s: unexpected error", job.id)
            job.finish(JobState.FAILED, JobError.from_exception(exc, server=server.id))
        else:
            if attempt.run_seconds is not None:
                self.estimator.observe(server.id, job.key, attempt.run_seconds)
            server.metrics.record_success(attempt.run_seconds, attempt.queue_wait)
            job.finish(JobState.SUCCEEDED, outputs=outputs)
        finally:
            server.in_flight.discard(job.id)
            self._wake.set()
            self._job_changed(job, "state")

    def _after_failure(self, job: Job, server: ServerHandle, error: JobError) -> None:
        if not error.retryable or job.cancel_requested:
            job.finish(JobState.CANCELLED if job.cancel_requested else JobState.FAILED, error)
            return
        server.check_soon()
        if len(job.attempts) >= job.max_attempts:
            gave_up = error.with_message(f"gave up after {len(job.attempts)} attempts; last: {error.message}")
            job.finish(JobState.FAILED, gave_up, attempt_error=error)
            return
        server.metrics.record_retry()
        job.requeued(time.monotonic() + self.settings.retry_backoff * (2 ** (len(job.attempts) - 1)), error)
        self._waiting.insert(0, job)
        log.info("job %s '%s': retrying after a failed attempt on %s: %s", job.id, job.label, server.id, error.message)


_CLOSED = JobError(ErrorKind.CANCELLED, "the pool was closed")
