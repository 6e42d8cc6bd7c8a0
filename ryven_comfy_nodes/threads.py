"""Every thread crossing of the node package, in one place (Qt-free).

Ryvencore objects (flows, nodes, their events) belong to one thread: the Qt GUI
thread in the editor, the calling thread headless. The backend answers on its
own thread, with ``concurrent.futures.Future`` objects and subscription events.
A *poster* (``Post``) carries a callable over to the flow's thread: the Qt one
is ``qt_dispatch.QtDispatcher.post``, the headless one ``QueueDispatcher.post``.
``when_done`` is the only way a backend future's result reaches the front.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")
#: runs a callable on the flow's thread (from any thread)
Post = Callable[[Callable[[], None]], None]


def _log_error(exc: BaseException) -> None:
    log.error("a backend call failed: %s", exc, exc_info=exc)


def when_done(future: cf.Future[T], post: Post, on_value: Callable[[T], None],
              on_error: Callable[[BaseException], None] | None = None) -> None:
    """When ``future`` ends, call ``on_value(result)`` or ``on_error(exception)`` on the flow's thread.

    Nothing waits: the callbacks are posted from whichever thread completes the future.
    Without ``on_error`` a failure is logged (never dropped silently).
    """
    failed = on_error or _log_error

    def done(f: cf.Future[T]) -> None:
        if f.cancelled():
            exc: BaseException | None = cf.CancelledError()
        else:
            exc = f.exception()
        if exc is not None:
            err = exc
            post(lambda: failed(err))
            return
        value = f.result()  # done: returns at once
        post(lambda: on_value(value))

    future.add_done_callback(done)


def all_done(futures: list[cf.Future[T]]) -> cf.Future[list[T]]:
    """One future for the results of several, in order (the first failure fails it)."""
    if not futures:
        return resolved([])
    out: cf.Future[list[T]] = cf.Future()
    lock = threading.Lock()
    left = [len(futures)]

    def one_done(f: cf.Future[T]) -> None:
        with lock:
            if out.done():
                return
            exc = cf.CancelledError() if f.cancelled() else f.exception()
            if exc is not None:
                out.set_exception(exc)
                return
            left[0] -= 1
            if left[0] == 0:
                out.set_result([x.result() for x in futures])

    for f in futures:
        f.add_done_callback(one_done)
    return out


def mapped(future: cf.Future[T], fn: Callable[[T], U]) -> cf.Future[U]:
    """A future for ``fn(result)``, computed on the thread that completes ``future`` (keep ``fn`` cheap)."""
    out: cf.Future[U] = cf.Future()

    def done(f: cf.Future[T]) -> None:
        exc = cf.CancelledError() if f.cancelled() else f.exception()
        if exc is not None:
            out.set_exception(exc)
            return
        try:
            out.set_result(fn(f.result()))
        except Exception as err:  # handed to whoever waits on the future
            out.set_exception(err)

    future.add_done_callback(done)
    return out


def resolved(value: T) -> cf.Future[T]:
    """A future that is already done with ``value``."""
    out: cf.Future[T] = cf.Future()
    out.set_result(value)
    return out


class QueueDispatcher:
    """The headless poster: callables are queued and run by ``drain`` on the thread owning the flows."""

    def __init__(self) -> None:
        self._q: queue.Queue[Callable[[], None]] = queue.Queue()
        self.thread = threading.current_thread()

    def post(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` (from any thread)."""
        self._q.put(fn)

    def drain(self, timeout: float = 0.1) -> None:
        """Run queued callables (waiting up to ``timeout`` for the first)."""
        try:
            fn = self._q.get(timeout=timeout)
        except queue.Empty:
            return
        fn()
        while True:
            try:
                fn = self._q.get_nowait()
            except queue.Empty:
                return
            fn()


_workers: cf.ThreadPoolExecutor | None = None
_workers_lock = threading.Lock()


def in_worker(fn: Callable[[], T], post: Post, on_value: Callable[[T], None],
              on_error: Callable[[BaseException], None] | None = None) -> cf.Future[T]:
    """Run ``fn()`` on a small shared worker pool (decoding images, reading files: work that
    must not stall the flow's thread); its result or error is posted back like ``when_done``."""
    global _workers
    with _workers_lock:
        if _workers is None:
            _workers = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="ryven-comfy-decode")
        future = _workers.submit(fn)
    when_done(future, post, on_value, on_error)
    return future
