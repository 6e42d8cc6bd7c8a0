"""The process-wide context of the node package: backend, dispatcher, flow runner (Qt-free).

``post(fn)`` runs ``fn`` on the flow's thread (the Qt GUI thread in Ryven, the
main thread headless). Backend futures and events reach nodes only through it,
so ryvencore objects are touched on one thread.

In the editor the launcher installs a context; when Ryven loads the package by
itself (File → Import Nodes), the GUI module installs a *factory* that builds
one on first use from the default servers config.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from comfy_backend.models import OutputRef, ServerSnapshot
from comfy_backend.runtime import Orchestrator

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]


class AppContext:
    """Owns the orchestrator's subscription, the runner and a small cache of fetched files."""

    def __init__(self, orch: Orchestrator, post: Post, *, owns_backend: bool = True,
                 output_root: Path | None = None) -> None:
        from .runner import FlowRunner

        self.orch = orch
        self.post = post
        self.owns_backend = owns_backend
        # relative folders of Save nodes are taken inside this one
        self.output_root = output_root or Path("~/ryven-comfy-outputs").expanduser()
        self.runner = FlowRunner(self)
        self._cache: OrderedDict[OutputRef, bytes] = OrderedDict()
        self._cache_bytes = 0
        self.server_listeners: list[Callable[[ServerSnapshot], None]] = []
        self.servers: dict[str, ServerSnapshot] = {}  # latest snapshot per server id (health colours)
        self._unsub = orch.subscribe(self._on_event, dispatcher=post)

    def _on_event(self, event: object) -> None:
        from comfy_backend.events import JobEvent, ServerEvent

        if isinstance(event, JobEvent):
            self.runner.on_job_event(event)
        elif isinstance(event, ServerEvent):
            self.servers[event.server.id] = event.server
            for cb in list(self.server_listeners):
                cb(event.server)

    def fetch_bytes(self, ref: OutputRef, callback: Callable[[bytes | None, str | None], None]) -> None:
        """Get a produced file's bytes; ``callback(data, error)`` runs on the flow's thread."""
        if ref in self._cache:
            self._cache.move_to_end(ref)
            callback(self._cache[ref], None)
            return
        fut = self.orch.fetch_output(ref)

        def done(f: object) -> None:
            try:
                data = fut.result()
            except Exception as exc:  # noqa: BLE001 - shown to the user on the node
                err = str(exc) or type(exc).__name__
                self.post(lambda: callback(None, err))
                return
            self.post(lambda: self._cached(ref, data, callback))

        fut.add_done_callback(done)

    def _cached(self, ref: OutputRef, data: bytes, callback: Callable[[bytes | None, str | None], None]) -> None:
        self._cache[ref] = data
        self._cache_bytes += len(data)
        while self._cache_bytes > 256 * 2**20 and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)
        callback(data, None)

    def close(self) -> None:
        self.runner.shutdown()
        try:
            self._unsub()
        except Exception as exc:  # noqa: BLE001 - the backend may already be gone
            log.debug("unsubscribe failed: %s", exc)
        if self.owns_backend:
            self.orch.close()


class QueueDispatcher:
    """Headless dispatcher: callables are queued and run by ``drain`` on the owning thread."""

    def __init__(self) -> None:
        self._q: "queue.Queue[Callable[[], None]]" = queue.Queue()
        self.thread = threading.current_thread()

    def post(self, fn: Callable[[], None]) -> None:
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


_current: AppContext | None = None
_factory: Callable[[], AppContext] | None = None


def set_context(ctx: AppContext | None) -> None:
    global _current
    _current = ctx


def set_factory(factory: Callable[[], AppContext] | None) -> None:
    global _factory
    _factory = factory


def current_context(create: bool = True) -> AppContext | None:
    """The installed context; with ``create``, build one with the factory if none exists."""
    global _current
    if _current is None and create and _factory is not None:
        _current = _factory()
    return _current
