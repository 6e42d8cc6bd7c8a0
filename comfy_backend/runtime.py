"""Orchestrator: the thread-safe face of the pool. The only module that bridges threads.

The asyncio loop and the pool live in one worker thread. Every public method
may be called from any thread: it hands work to the loop and returns a
``concurrent.futures.Future`` (or blocks on one, for the simple calls).
Events reach subscribers through a *dispatcher* of their choice — e.g. a GUI
passes one that re-posts the call onto its own thread; the default runs the
callback on the worker thread, so it must be quick.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .config import ServersConfig
from .errors import ComfyBackendError
from .events import Event
from .jobs import JobSpec, Target, Upload
from .models import JobSnapshot, OutputRef, ServerSnapshot
from .outputs import save_output
from .pool import ServerPool

log = logging.getLogger(__name__)
T = TypeVar("T")
Dispatcher = Callable[[Callable[[], None]], None]


class JobHandle:
    """A submitted job as seen from the caller's thread."""

    def __init__(self, orch: Orchestrator, job_id: str, future: cf.Future[JobSnapshot]) -> None:
        self._orch = orch
        self.id = job_id
        self.future = future

    def result(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the job ends (succeeded, failed or cancelled) and return its final snapshot."""
        return self.future.result(timeout)

    def done(self) -> bool:
        return self.future.done()

    def cancel(self) -> bool:
        return self._orch.cancel(self.id)

    def snapshot(self) -> JobSnapshot | None:
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
        self._subs_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------
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
            loop.run_until_complete(self._pool.start(wait_checked=wait_checked))
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
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
    def pool(self) -> ServerPool:
        if self._pool is None:
            raise ComfyBackendError("the backend is not started")
        return self._pool

    def _call(self, fn: Callable[[], T]) -> cf.Future[T]:
        """Run a plain function on the loop thread."""
        assert self._loop is not None
        fut: cf.Future[T] = cf.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut

    def run_coroutine(self, coro: Awaitable[T]) -> cf.Future[T]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    # -- jobs ---------------------------------------------------------------------
    def submit(
        self,
        prompt: dict[str, Any],
        *,
        label: str = "",
        target: Target | None = None,
        uploads: Iterable[Upload] = (),
        extra_data: dict[str, Any] | None = None,
        workflow_key: str | None = None,
        max_attempts: int | None = None,
        build: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> JobHandle:
        """Queue an API-format prompt; returns at once with a handle.

        With ``build``, the prompt sent to a server is ``build(that server's object_info)``
        (e.g. a UI workflow converted with the node definitions of the server that runs it).
        """
        spec = JobSpec(
            prompt=prompt,
            label=label,
            target=target or Target(),
            uploads=tuple(uploads),
            extra_data=extra_data,
            workflow_key=workflow_key,
            max_attempts=max_attempts,
            build=build,
        )
        result: cf.Future[JobSnapshot] = cf.Future()

        def do() -> str:
            job = self.pool.submit(spec)
            job.future.add_done_callback(lambda f: result.set_result(f.result()))
            return job.id

        job_id = self._call(do).result()
        return JobHandle(self, job_id, result)

    def cancel(self, job_id: str) -> bool:
        return self._call(lambda: self.pool.cancel(job_id)).result()

    def job(self, job_id: str) -> JobSnapshot | None:
        def get() -> JobSnapshot | None:
            j = self.pool.jobs.get(job_id)
            return j.snapshot() if j else None

        return self._call(get).result()

    def jobs(self) -> list[JobSnapshot]:
        return self._call(lambda: [j.snapshot() for j in self.pool.jobs.values()]).result()

    def servers(self) -> list[ServerSnapshot]:
        return self._call(self.pool.server_snapshots).result()

    def metrics_series(self, server_id: str, field: str) -> list[tuple[float, float | None]]:
        return self._call(lambda: self.pool.servers[server_id].metrics.series(field)).result()

    def check_servers(self, timeout: float = 30.0) -> list[ServerSnapshot]:
        """Run a health check on every server now and return the result."""

        async def check() -> list[ServerSnapshot]:
            await asyncio.gather(*(s.check_once() for s in self.pool.servers.values() if s.config.enabled))
            return self.pool.server_snapshots()

        return self.run_coroutine(check()).result(timeout)

    # -- outputs ------------------------------------------------------------------
    def fetch_output(self, ref: OutputRef) -> cf.Future[bytes]:
        return self.run_coroutine(self.pool.fetch_output(ref))

    def save_outputs(self, job: JobSnapshot, out_dir: str | Path, timeout: float = 600.0) -> list[Path]:
        """Download every output of a finished job into ``out_dir`` (atomically, never outside it)."""
        paths = []
        for ref in job.outputs:
            data = self.fetch_output(ref).result(timeout)
            paths.append(save_output(data, ref, Path(out_dir)))
        return paths

    def upload(self, server_id: str, data: bytes, filename: str, subfolder: str = "") -> str:
        return self.run_coroutine(self.pool.servers[server_id].client.upload_image(data, filename, subfolder=subfolder)).result()

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

        unsub = self._call(lambda: self.pool.subscribe(listener)).result()
        return lambda: self._call(unsub)
