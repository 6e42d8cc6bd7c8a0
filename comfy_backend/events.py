"""Events the pool publishes. Each carries an immutable snapshot, safe on any thread."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

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


Event = Union[JobEvent, ServerEvent, PreviewEvent]
