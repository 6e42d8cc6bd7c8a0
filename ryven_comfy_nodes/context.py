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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfy_backend.models import Health, OutputRef, ServerSnapshot
from comfy_backend.runtime import Orchestrator

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]
ObjectInfo = dict[str, Any]


async def _object_info_of(orch: Orchestrator, prefer: str | None) -> tuple[str, ObjectInfo] | None:
    """On the backend thread: ``/object_info`` of ``prefer`` if usable, else of the first usable server."""
    servers = orch.pool.servers
    order = ([prefer] if prefer in servers else []) + sorted(s for s in servers if s != prefer)
    for sid in order:
        if servers[sid].usable:
            return sid, await servers[sid].client.object_info()
    return None


async def _all_object_infos(orch: Orchestrator) -> dict[str, ObjectInfo]:
    servers = orch.pool.servers
    return {sid: await servers[sid].client.object_info() for sid in sorted(servers) if servers[sid].usable}


def fetch_object_infos(orch: Orchestrator, timeout: float = 60.0) -> dict[str, ObjectInfo]:
    """Every usable server's node definitions (fetched on the backend thread, cached by the clients)."""
    return orch.run_coroutine(_all_object_infos(orch)).result(timeout)


def fetch_object_info(orch: Orchestrator, server: str | None = None,
                      timeout: float = 60.0) -> tuple[str, ObjectInfo] | None:
    """A usable server's node definitions (``server`` preferred), waiting for them; None if none is usable.

    The fetch runs on the backend thread (the client caches it); blocking callers only: the
    headless runner, or a dialog that needs them to convert a UI workflow.
    """
    return orch.run_coroutine(_object_info_of(orch, server)).result(timeout)


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
        # each usable server's /object_info, copied to the flow's thread once it is online
        self.object_infos: dict[str, ObjectInfo] = {}
        self.object_info_listeners: list[Callable[[str, ObjectInfo], None]] = []
        self._info_pending: set[str] = set()
        self.object_info_listeners.append(_refine_classes)
        self._unsub = orch.subscribe(self._on_event, dispatcher=post)

    def _on_event(self, event: object) -> None:
        from comfy_backend.events import JobEvent, ServerEvent

        if isinstance(event, JobEvent):
            self.runner.on_job_event(event)
        elif isinstance(event, ServerEvent):
            self.servers[event.server.id] = event.server
            if event.server.health in (Health.ONLINE, Health.DEGRADED):
                self.request_object_info(event.server.id)
            for cb in list(self.server_listeners):
                cb(event.server)

    def request_object_info(self, server_id: str) -> None:
        """Fetch a server's node definitions in the background (once); listeners get them on the flow's thread."""
        if server_id in self.object_infos or server_id in self._info_pending:
            return
        self._info_pending.add(server_id)
        fut = self.orch.run_coroutine(_object_info_of(self.orch, server_id))

        def done(f: Any) -> None:
            try:
                got = f.result()
            except Exception as exc:
                log.info("no node definitions from %s yet: %s", server_id, exc)
                got = None
            self.post(lambda: self._got_object_info(server_id, got))

        fut.add_done_callback(done)

    def _got_object_info(self, server_id: str, got: tuple[str, ObjectInfo] | None) -> None:
        self._info_pending.discard(server_id)
        if got is None or got[0] != server_id or not got[1]:
            return
        self.object_infos[server_id] = got[1]
        for cb in list(self.object_info_listeners):
            cb(server_id, got[1])

    def object_info(self, server: str | None = None) -> ObjectInfo | list[ObjectInfo] | None:
        """Node definitions known on the flow's thread: a pinned ``server``'s, else every usable server's."""
        if server is not None:
            return self.object_infos.get(server)
        return [self.object_infos[s] for s in sorted(self.object_infos)] or None

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
            except Exception as exc:
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
        except Exception as exc:
            log.debug("unsubscribe failed: %s", exc)
        if self.owns_backend:
            self.orch.close()


def _refine_classes(server_id: str, info: ObjectInfo) -> None:
    from .classes import refine_classes

    refine_classes(info, server_id)


class QueueDispatcher:
    """Headless dispatcher: callables are queued and run by ``drain`` on the owning thread."""

    def __init__(self) -> None:
        self._q: queue.Queue[Callable[[], None]] = queue.Queue()
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


def fetch_image_source(ctx: AppContext | None, value: Any,
                       callback: Callable[[bytes | None, str | None, str], None]) -> None:
    """The bytes of an image source (see ``values``): the first produced file, or a local file.

    ``callback(data, error, filename)`` runs on the flow's thread; a produced file needs ``ctx``
    (its backend fetches it from the server that made it), a local file is read at once.
    """
    from .values import refs_of

    refs = refs_of(value)
    if refs:
        ref = refs[0]
        name = f"ryven-comfy-{ref.server}-{Path(ref.filename).name}"
        if ctx is None:
            callback(None, "no servers configured", name)
        else:
            ctx.fetch_bytes(ref, lambda d, e: callback(d, e, name))
        return
    path = Path(value["path"])
    try:
        data: bytes | None = path.read_bytes()
        err = None
    except OSError as exc:
        data, err = None, f"{path}: {exc.strerror}"
    callback(data, err, path.name)


def current_context(create: bool = True) -> AppContext | None:
    """The installed context; with ``create``, build one with the factory if none exists."""
    global _current
    if _current is None and create and _factory is not None:
        _current = _factory()
    return _current
