"""Jobs: what the caller asks for (JobSpec) and the pool's live record of it (Job)."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import Attempt, JobSnapshot, JobState, OutputRef, Progress

# Inputs whose values change how long a job takes (resolution, steps, batch...).
_SIZE_INPUTS = frozenset(
    {"steps", "width", "height", "batch_size", "length", "frames", "frame_count", "num_frames",
     "scale_by", "megapixels", "tile_size", "resolution", "upscale_method", "blur_radius", "amount"}
)


def workflow_key(prompt: dict[str, Any]) -> str:
    """A key that groups prompts expected to take about as long as each other.

    Structure (node classes and links) plus size-like inputs; prompts that differ
    only in seed or text share a key, so durations learned for one apply to the others.
    """
    parts = []
    for nid in sorted(prompt, key=str):
        node = prompt[nid]
        if not isinstance(node, dict):
            continue
        ins = node.get("inputs") or {}
        shaped = {
            k: (v if isinstance(v, list) or k in _SIZE_INPUTS else None)
            for k, v in sorted(ins.items())
            if isinstance(v, list) or k in _SIZE_INPUTS
        }
        parts.append([str(nid), node.get("class_type"), shaped])
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Upload:
    """A file to upload to whichever server runs the job, then set as ``node_id.input``."""

    node_id: str
    input: str
    data: bytes
    filename: str
    subfolder: str = ""


@dataclass(frozen=True)
class Target:
    """Where a job may run: anywhere (auto), a pinned server, or servers with all these tags."""

    server: str | None = None
    tags: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.server:
            return f"server '{self.server}'"
        if self.tags:
            return "servers tagged " + ", ".join(self.tags)
        return "any server"


PromptBuilder = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class JobSpec:
    """What to run. ``prompt`` is the API prompt; with ``build``, each server gets
    ``build(its object_info)`` instead (a UI workflow converted with that server's own
    node definitions), and ``prompt`` is only a representative for keys and display."""

    prompt: dict[str, Any]
    label: str = ""
    target: Target = field(default_factory=Target)
    uploads: tuple[Upload, ...] = ()
    extra_data: dict[str, Any] | None = None
    workflow_key: str | None = None
    max_attempts: int | None = None
    build: PromptBuilder | None = None


class Job:
    """The pool's record of one job. Lives on the pool's event loop only."""

    def __init__(self, spec: JobSpec, loop: asyncio.AbstractEventLoop, max_attempts: int) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.spec = spec
        self.label = spec.label or self.id
        self.key = spec.workflow_key or workflow_key(spec.prompt)
        self.max_attempts = spec.max_attempts or max_attempts
        self.state = JobState.QUEUED
        self.server: str | None = None
        self.prompt_id: str | None = None
        self.progress = Progress()
        self.attempts: list[Attempt] = []
        self.outputs: list[OutputRef] = []
        self.error: dict[str, Any] | None = None
        self.created = time.time()
        self.finished: float | None = None
        self.not_before = 0.0            # monotonic time before which it is not dispatched (backoff)
        self.failed_on: set[str] = set()  # servers an attempt failed on: tried last
        self.cancel_requested = False
        self.cancel_event = asyncio.Event()
        self.future: asyncio.Future[JobSnapshot] = loop.create_future()
        self.waiting_since = time.monotonic()
        self.unschedulable_reason: str | None = None
        # server id -> (server.info_version, why it cannot run there or None): capability is
        # checked against ~400 node definitions, so it is computed once per server version.
        self.capability: dict[str, tuple[int, str | None]] = {}
        self.capabilities_refreshed = False
        self._built: dict[tuple[str, int], dict[str, Any]] = {}

    def prompt_for(self, server_id: str, info_version: int, object_info: dict[str, Any] | None) -> dict[str, Any]:
        """The prompt to send to one server (built once per server and node-list version).

        Raises WorkflowError when the workflow cannot be converted for that server.
        """
        if self.spec.build is None or object_info is None:
            return self.spec.prompt
        key = (server_id, info_version)
        if key not in self._built:
            self._built[key] = self.spec.build(object_info)
        return self._built[key]

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(
            id=self.id,
            label=self.label,
            state=self.state,
            server=self.server,
            prompt_id=self.prompt_id,
            progress=self.progress,
            attempts=tuple(Attempt(**a.__dict__) for a in self.attempts),
            outputs=tuple(self.outputs),
            error=self.error,
            created=self.created,
            finished=self.finished,
            workflow_key=self.key,
        )

    def finish(self, state: JobState, error: dict[str, Any] | None = None) -> bool:
        """Move to a final state once; later calls are ignored (never reported twice)."""
        if self.state.final:
            return False
        self.state = state
        self.error = error
        self.finished = time.time()
        if state is JobState.SUCCEEDED:
            self.progress = Progress(
                node=None, node_index=self.progress.node_index, node_count=self.progress.node_count, fraction=1.0
            )
        if not self.future.done():
            self.future.set_result(self.snapshot())
        return True
