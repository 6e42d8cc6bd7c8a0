"""Orchestrator: the typed face of the core, and the only module that bridges threads.

The asyncio loop and the pool live in one worker thread. Every public method may be
called from any thread and none waits on the loop: reads (servers, jobs, node
definitions) come from immutable snapshots the worker thread keeps up to date, one per
change; work is handed to the loop and answered with a ``concurrent.futures.Future``.
Events reach subscribers through a *dispatcher* of their choice — e.g. a GUI passes one
that re-posts the call onto its own thread; the default runs the callback on the worker
thread, so it must be quick.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .config import ServerConfig, ServersConfig
from .errors import ComfyBackendError, NoServerAvailable
from .events import Event, JobEvent, NodeDefsEvent, ServerEvent
from .jobs import JobSpec, new_job_id
from .metrics import metrics_report
from .models import Health, JobSnapshot, JobState, OutputRef, Progress, ServerSnapshot
from .outputs import download_output, save_output
from .pool import ServerPool
from .probe import probe_server
from .requests import RunRequest
from .run_spec import spec_for
from .server import ServerHandle

log = logging.getLogger(__name__)
T = TypeVar("T")
Dispatcher = Callable[[Callable[[], None]], None]
#: server id -> field -> [(time, value)]
MetricsSeries = dict[str, dict[str, list[tuple[float, float | None]]]]
DEFS_WAIT_S = 120.0  # how long fetch_node_definitions waits for a usable server's definitions to load


def usable(snap: ServerSnapshot) -> bool:
    """Can this server take jobs now (enabled, online or degraded)?"""
    return snap.enabled and snap.health in (Health.ONLINE, Health.DEGRADED)


class JobHandle:
    """A submitted job as seen from the caller's thread.

    ``seeds`` holds the random seeds drawn for it (field key → seed), so a front can show
    the seed a run used.
    """

    def __init__(self, orch: Orchestrator, job_id: str, future: cf.Future[JobSnapshot],
                 seeds: dict[str, int] | None = None) -> None:
        self._orch = orch
        self.id = job_id
        self.future = future
        self.seeds = dict(seeds or {})

    def result(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the job ends (succeeded, failed or cancelled) and return its final snapshot."""
        return self.future.result(timeout)

    def done(self) -> bool:
        """Has the job ended?"""
        return self.future.done()

    def cancel(self) -> bool:
        """Ask for the job to be cancelled (see :meth:`Orchestrator.cancel`)."""
        return self._orch.cancel(self.id)

    def snapshot(self) -> JobSnapshot | None:
        """The job's latest snapshot, without waiting."""
        return self._orch.job(self.id)


class Orchestrator:
    """Runs a ServerPool on a background thread; usable from any thread, Qt-free."""

    def __init__(self, config: ServersConfig, *, policy: str | None = None, queue_timeout: float | None = None) -> None:
        self.config = config
        self._policy = policy
        self._queue_timeout = queue_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: ServerPool | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        # Written on the worker thread only, read from any thread: each value is an
        # immutable snapshot, replaced whole under the lock.
        self._lock = threading.Lock()
        self._server_snaps: dict[str, ServerSnapshot] = {}
        self._job_snaps: dict[str, JobSnapshot] = {}
        self._defs: dict[str, tuple[int, dict[str, Any]]] = {}
        self._subscribers: list[Callable[[Event], None]] = []

    # -- lifecycle -------------------------------------------------------------
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

    def start(self, wait_checked: bool = True, timeout: float = 60.0) -> Orchestrator:
        """Start the worker thread; with ``wait_checked`` return after every server's first health check."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, args=(wait_checked,), name="comfy-backend", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ComfyBackendError("the backend did not start in time")
        if self._start_error is not None:
            raise self._start_error
        return self

    def _thread_main(self, wait_checked: bool) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        kwargs: dict[str, Any] = {"policy": self._policy}
        if self._queue_timeout is not None:
            kwargs["queue_timeout"] = self._queue_timeout
        try:
            self._pool = ServerPool(self.config, **kwargs)
            self._pool.subscribe(self._on_event)
            loop.run_until_complete(self._pool.start(wait_checked=wait_checked))
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        with self._lock:  # every server listed in config order, checked or not
            self._server_snaps = {sid: self._server_snaps.get(sid) or h.snapshot() for sid, h in self._pool.servers.items()}
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def close(self, timeout: float = 15.0) -> None:
        """Cancel what runs, close connections and stop the thread."""
        if self._loop is None or self._thread is None or self._pool is None:
            return
        if self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._pool.close(), self._loop)
            try:
                fut.result(timeout)
            except (cf.TimeoutError, Exception) as exc:
                log.warning("backend did not close cleanly: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Orchestrator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------
    @property
    def _started_pool(self) -> ServerPool:
        """The pool itself, for this module's loop-thread code only."""
        if self._pool is None:
            raise ComfyBackendError("the backend is not started")
        return self._pool

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed() or self._thread is None:
            raise ComfyBackendError("the backend is not running")
        return self._loop

    def _call(self, fn: Callable[[], T]) -> cf.Future[T]:
        """Run a plain function on the loop thread.

        Never raises: when the backend is not running the future fails with ComfyBackendError
        (a GUI timer may still ask while the window closes).
        """
        fut: cf.Future[T] = cf.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        try:
            self._running_loop().call_soon_threadsafe(run)
        except (ComfyBackendError, RuntimeError) as exc:  # RuntimeError: the loop closed meanwhile
            fut.set_exception(exc if isinstance(exc, ComfyBackendError)
                              else ComfyBackendError("the backend is not running"))
        return fut

    def _run_coroutine(self, coro: Awaitable[T]) -> cf.Future[T]:
        """Run a coroutine on the loop; like :meth:`_call`, a stopped backend fails the future."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._running_loop())  # type: ignore[arg-type]
        except (ComfyBackendError, RuntimeError):
            if inspect.iscoroutine(coro):
                coro.close()  # never run: no "was never awaited" warning
            fut: cf.Future[T] = cf.Future()
            fut.set_exception(ComfyBackendError("the backend is not running"))
            return fut

    def _on_event(self, event: Event) -> None:
        """On the loop: keep the latest snapshots, then pass the event on to subscribers."""
        if isinstance(event, JobEvent):
            with self._lock:
                self._job_snaps[event.job.id] = event.job
        elif isinstance(event, ServerEvent):
            with self._lock:
                if event.server.removed:
                    self._server_snaps.pop(event.server.id, None)
                    self._defs.pop(event.server.id, None)
                else:
                    self._server_snaps[event.server.id] = event.server
        elif isinstance(event, NodeDefsEvent):
            handle = self._started_pool.servers[event.server_id]
            if handle.node_defs is not None:
                with self._lock:
                    self._defs[event.server_id] = (event.version, handle.node_defs)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")

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

    # -- jobs ---------------------------------------------------------------------
    def submit(self, request: RunRequest) -> JobHandle:
        """Check ``request`` and queue it; returns at once with a handle.

        The values are checked against the cached node definitions (the pinned server's,
        else those of the usable servers that may run it) before anything is queued:
        ParameterError / WorkflowError are raised here. Each server that runs the job
        gets the prompt prepared with its own node definitions.
        """
        loop = self._running_loop()
        spec, seeds = self._spec(request)
        job_id, created = new_job_id(), time.time()
        result: cf.Future[JobSnapshot] = cf.Future()
        assert spec.workflow_key is not None
        queued = JobSnapshot(id=job_id, label=spec.label or job_id, state=JobState.QUEUED, server=None, prompt_id=None,
                             progress=Progress(), attempts=(), outputs=(), error=None, created=created, finished=None,
                             workflow_key=spec.workflow_key)
        with self._lock:
            self._job_snaps[job_id] = queued

        def enqueue() -> None:
            try:
                job = self._started_pool.submit(spec, job_id, created)
            except ComfyBackendError as exc:
                with self._lock:
                    self._job_snaps.pop(job_id, None)
                result.set_exception(exc)
                return
            job.future.add_done_callback(lambda f: result.set_result(f.result()))

        loop.call_soon_threadsafe(enqueue)
        return JobHandle(self, job_id, result, seeds)

    def check(self, request: RunRequest) -> None:
        """Check ``request`` as :meth:`submit` does, without queueing anything.

        Raises ParameterError / WorkflowError (e.g. ``parameter 'Blur radius': 40 is above
        the maximum 31``) when no server that may run it accepts its values.
        """
        self._spec(request)

    def _spec(self, request: RunRequest) -> tuple[JobSpec, dict[str, int]]:
        """The job for ``request`` checked against the cached node definitions, and its drawn seeds."""
        with self._lock:
            snaps = list(self._server_snaps.values())
            defs = {sid: info for sid, (_, info) in self._defs.items()}
        return spec_for(request, snaps, defs)

    def cancel(self, job_id: str) -> bool:
        """Ask for a job to be cancelled (withdrawn from the queue, or interrupted on its server).

        Returns at once: False when the job is unknown, has already ended, or the backend stopped.
        """
        snap = self.job(job_id)
        if snap is None or snap.state.final:
            return False
        try:
            self._running_loop().call_soon_threadsafe(self._started_pool.cancel, job_id)
        except (ComfyBackendError, RuntimeError):
            return False  # the backend stopped: nothing left to cancel
        return True

    # -- outputs ------------------------------------------------------------------
    def fetch_output(self, ref: OutputRef) -> cf.Future[bytes]:
        """The bytes of one output file."""
        return self._run_coroutine(self._started_pool.fetch_output(ref))

    def save_outputs(self, refs: Iterable[OutputRef], out_dir: str | Path) -> cf.Future[list[Path]]:
        """Download outputs into ``out_dir`` (atomically, never outside it); the paths, in order."""
        folder = Path(out_dir)
        wanted = list(refs)

        async def save_one(ref: OutputRef) -> Path:
            server = self._started_pool.servers.get(ref.server)
            held = self._started_pool.held_output(ref)  # in hand: never waits on a server that died since
            if held is None and ref.type != "websocket" and server is not None:
                # Streamed to disk within the size limit: memory stays flat whatever the server sends.
                client = server.client
                return await download_output(
                    lambda sink: client.view_to(ref.filename, ref.subfolder, ref.type, sink), ref, folder)
            data = await self._started_pool.fetch_output(ref)
            # Files are written off the loop so other jobs keep moving meanwhile.
            return await asyncio.get_running_loop().run_in_executor(None, save_output, data, ref, folder)

        async def save_all() -> list[Path]:
            return list(await asyncio.gather(*(save_one(r) for r in wanted)))

        return self._run_coroutine(save_all())

    # -- events -------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None], dispatcher: Dispatcher | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for every event, through ``dispatcher`` if given.

        Returns a function that unsubscribes.
        """

        def listener(event: Event) -> None:
            if dispatcher is None:
                callback(event)
            else:
                dispatcher(lambda: callback(event))

        with self._lock:
            self._subscribers.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._subscribers:
                    self._subscribers.remove(listener)

        return unsubscribe
