"""The Orchestrator's worker thread: its asyncio loop, the snapshots it keeps, its subscribers.

The asyncio loop and the pool live in one worker thread; this base of ``Orchestrator`` starts
and stops it and holds the calls into it (``_call``, ``_run_coroutine``): the Orchestrator is the
one way into the loop from another thread. Reads come from immutable snapshots the worker thread
keeps up to date, one per change; events reach subscribers through a *dispatcher* of their
choice — e.g. a GUI passes one that re-posts the call onto its own thread; the default runs the
callback on the worker thread, so it must be quick.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

from .config import ServersConfig
from .errors import ComfyBackendError
from .events import Event, JobEvent, NodeDefsEvent, ServerEvent
from .models import JobSnapshot, ServerSnapshot
from .pool import ServerPool

# Log lines keep the name they had before the Orchestrator was written in parts (users read it).
log = logging.getLogger("comfy_backend.runtime")
T = TypeVar("T")
Dispatcher = Callable[[Callable[[], None]], None]



def _not_running() -> cf.Future[Any]:
    """A future already failed the way every call into a stopped backend fails."""
    fut: cf.Future[Any] = cf.Future()
    fut.set_exception(ComfyBackendError("the backend is not running"))
    return fut

class OrchestratorBase:
    """The worker thread behind ``Orchestrator``: lifecycle, calls into the loop, snapshots, events."""

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
    def start(self, wait_checked: bool = True, timeout: float = 60.0) -> Self:
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------
    @property
    def _started_pool(self) -> ServerPool:
        """The pool itself, for the Orchestrator's loop-thread code only."""
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
        except (ComfyBackendError, RuntimeError):  # RuntimeError: the loop closed meanwhile
            return _not_running()
        return fut

    def _run_coroutine(self, coro: Awaitable[T]) -> cf.Future[T]:
        """Run a coroutine on the loop; like :meth:`_call`, a stopped backend fails the future."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._running_loop())  # type: ignore[arg-type]
        except (ComfyBackendError, RuntimeError):
            if inspect.iscoroutine(coro):
                coro.close()  # never run: no "was never awaited" warning
            return _not_running()

    # -- events -------------------------------------------------------------------
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
