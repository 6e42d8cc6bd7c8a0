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

from .fetching import OutputFiles
from .runner import FlowRunner
from .threads import Post

log = logging.getLogger(__name__)

ObjectInfo = dict[str, Any]


def _usable(snap: ServerSnapshot) -> bool:
    return snap.enabled and snap.health in (Health.ONLINE, Health.DEGRADED)


class AppContext:
    """Owns the orchestrator's subscription, the runner, the file cache and what is known of the servers.

    Events (ryvencore style, emitted on the flow's thread):
    ``server_changed(ServerSnapshot)`` for every server event, ``node_definitions_changed(server_id)``
    when a server's node definitions arrived or changed in the core's cache (read them with
    ``node_definitions``; this context keeps no copy).
    """

    def __init__(self, orch: Orchestrator, post: Post, *, owns_backend: bool = True,
                 output_root: Path | None = None) -> None:
        self.orch = orch
        self.post = post
        self.owns_backend = owns_backend
        self.dispatcher: Any = None  # the editor's Qt dispatcher (stopped by whoever installed it)
        self.files = OutputFiles(orch, post)
        self.runner = FlowRunner(orch, post, self.files,
                                 output_root=output_root or Path("~/ryven-comfy-outputs").expanduser())
        self.servers: dict[str, ServerSnapshot] = {}  # latest snapshot per server id (health colours)
        self.server_changed = Event(ServerSnapshot)
        self.node_definitions_changed = Event(str)
        self._unsub = orch.subscribe(self._on_event, dispatcher=post)
        # servers checked and definitions loaded before we subscribed: announce them once (never waits)
        post(self._catch_up)

    def _catch_up(self) -> None:
        for snap in self.orch.servers():
            self.servers.setdefault(snap.id, snap)
            if self.orch.node_definitions(snap.id) is not None:
                self.node_definitions_changed.emit(snap.id)

    def _on_event(self, event: object) -> None:
        if isinstance(event, JobEvent):
            self.runner.on_job_event(event)
        elif isinstance(event, ServerEvent):
            snap = event.server
            before = self.servers.get(snap.id)
            self.servers[snap.id] = snap
            self.server_changed.emit(snap)
            # definitions load just before a server is marked online: usable now, they count now
            if _usable(snap) and not (before is not None and _usable(before)) \
                    and self.orch.node_definitions(snap.id) is not None:
                self.node_definitions_changed.emit(snap.id)
        elif isinstance(event, NodeDefsEvent):
            self.node_definitions_changed.emit(event.server_id)  # loaded or changed

    def node_definitions(self, server: str | None = None) -> list[ObjectInfo]:
        """Node definitions from the core's cache (never waits): a pinned ``server``'s, else every
        usable server's, in config order; empty when none has arrived yet."""
        if server is not None:
            info = self.orch.node_definitions(server)
            return [info] if info else []
        return list(self.orch.all_node_definitions().values())

    def close(self) -> None:
        self.runner.shutdown()
        try:
            self._unsub()
        except Exception as exc:
            log.debug("unsubscribe failed: %s", exc)
        if self.owns_backend:
            self.orch.close()


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
