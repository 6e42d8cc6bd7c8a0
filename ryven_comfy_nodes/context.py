"""The process-wide context of the node package: backend, poster, flow runner, known servers (Qt-free).

``post(fn)`` runs ``fn`` on the flow's thread (the Qt GUI thread in Ryven, the
calling thread headless; see ``threads``). Backend futures and events reach
nodes only through it, so ryvencore objects are touched on one thread.

In the editor the launcher installs a context; when Ryven loads the package by
itself (File → Import Nodes), the GUI module installs a *factory* that builds
one on first use from the default servers config.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ryvencore.Base import Event

from comfy_backend import Health, JobEvent, NodeDefsEvent, Orchestrator, ServerEvent, ServerSnapshot

from .classes import refine_classes
from .fetching import OutputFiles
from .runner import FlowRunner
from .threads import Post

log = logging.getLogger(__name__)

ObjectInfo = dict[str, Any]


USABLE = (Health.ONLINE, Health.DEGRADED)


def fetch_object_infos(orch: Orchestrator, timeout: float = 60.0) -> dict[str, ObjectInfo]:
    """Every usable server's node definitions, waiting for them to load: for the headless runner only."""
    usable = [s.id for s in orch.servers() if s.health in USABLE]
    waits = {sid: orch.fetch_node_definitions(sid) for sid in usable}
    return {sid: fut.result(timeout)[1] for sid, fut in sorted(waits.items())}


class AppContext:
    """Owns the orchestrator's subscription, the runner, the file cache and what is known of the servers.

    Events (ryvencore style, emitted on the flow's thread):
    ``server_changed(ServerSnapshot)`` for every server event, ``object_info_changed(server_id, object_info)``
    when a server's node definitions arrived or changed.
    """

    def __init__(self, orch: Orchestrator, post: Post, *, owns_backend: bool = True,
                 output_root: Path | None = None) -> None:
        self.orch = orch
        self.post = post
        self.owns_backend = owns_backend
        self.dispatcher: Any = None  # the editor's Qt dispatcher (stopped by whoever installed it)
        self.files = OutputFiles(orch, post)
        self.runner = FlowRunner(orch, post, self.files,
                                 output_root=output_root or Path("~/ryven-comfy-outputs").expanduser(),
                                 node_definitions=self.object_info)
        self.servers: dict[str, ServerSnapshot] = {}  # latest snapshot per server id (health colours)
        self.server_changed = Event(ServerSnapshot)
        # each usable server's /object_info, copied to the flow's thread once it is online
        self.object_infos: dict[str, ObjectInfo] = {}
        self.object_info_changed = Event(str, dict)
        self.object_info_changed.sub(_refine_classes)
        self._unsub = orch.subscribe(self._on_event, dispatcher=post)
        # servers checked and definitions loaded before we subscribed: read them once (never waits)
        post(self._catch_up)

    def _catch_up(self) -> None:
        for snap in self.orch.servers():
            self.servers.setdefault(snap.id, snap)
            if snap.id not in self.object_infos:
                self._take_node_definitions(snap.id)

    def _on_event(self, event: object) -> None:
        if isinstance(event, JobEvent):
            self.runner.on_job_event(event)
        elif isinstance(event, ServerEvent):
            self.servers[event.server.id] = event.server
            if event.server.health in USABLE and event.server.id not in self.object_infos:
                self._take_node_definitions(event.server.id)
            self.server_changed.emit(event.server)
        elif isinstance(event, NodeDefsEvent):
            self._take_node_definitions(event.server_id)  # loaded or changed

    def _take_node_definitions(self, server_id: str) -> None:
        """Copy a server's node definitions from the backend's cache (never waits); announce them."""
        info = self.orch.node_definitions(server_id)
        if not info:
            return
        self.object_infos[server_id] = info
        self.object_info_changed.emit(server_id, info)

    def object_info(self, server: str | None = None) -> ObjectInfo | list[ObjectInfo] | None:
        """Node definitions known on the flow's thread: a pinned ``server``'s, else every usable server's."""
        if server is not None:
            return self.object_infos.get(server)
        return [self.object_infos[s] for s in sorted(self.object_infos)] or None

    def close(self) -> None:
        self.runner.shutdown()
        try:
            self._unsub()
        except Exception as exc:
            log.debug("unsubscribe failed: %s", exc)
        if self.owns_backend:
            self.orch.close()


def _refine_classes(server_id: str, info: ObjectInfo) -> None:
    refine_classes(info, server_id)


_current: AppContext | None = None
_factory: Callable[[], AppContext | None] | None = None


def set_context(ctx: AppContext | None) -> None:
    global _current
    _current = ctx


def set_factory(factory: Callable[[], AppContext | None] | None) -> None:
    global _factory
    _factory = factory


def current_context(create: bool = True) -> AppContext | None:
    """The installed context; with ``create``, build one with the factory if none exists."""
    global _current
    if _current is None and create and _factory is not None:
        _current = _factory()
    return _current
