"""Events the pool publishes. Each carries an immutable snapshot, safe on any thread."""
from __future__ import annotations

from dataclasses import dataclass

from .models import JobSnapshot, ServerSnapshot


@dataclass(frozen=True)
class JobEvent:
    job: JobSnapshot
    kind: str  # "state" | "progress"


@dataclass(frozen=True)
class ServerEvent:
    server: ServerSnapshot


@dataclass(frozen=True)
class PreviewEvent:
    """A live preview image of a running job (latent previews, not final outputs)."""

    job_id: str
    node_id: str | None
    mime: str
    data: bytes


@dataclass(frozen=True)
class NodeDefsEvent:
    """A server's node definitions (``/object_info``) were loaded or changed; ``version``
    counts the changes. Read them with ``Orchestrator.node_definitions(server_id)``."""

    server_id: str
    version: int


Event = JobEvent | ServerEvent | PreviewEvent | NodeDefsEvent
