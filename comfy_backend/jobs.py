"""Jobs: what the pool runs (JobSpec) and its live record of it (Job).

A Job owns its lifecycle: pool and attempt call its transition methods, which check
that the move is legal (queued → submitted → running → requeued/finished); a job ends
exactly once. Nothing else assigns its state, server, prompt id, error or outputs.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import JobError
from .models import Attempt, AttemptOutcome, JobSnapshot, JobState, OutputRef, Progress
from .requests import Target, Upload

__all__ = ["IllegalTransition", "Job", "JobSpec", "PromptBuilder", "Target", "Upload", "new_job_id", "workflow_key"]

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
    # Download the outputs as part of the attempt: the job succeeds only once they are in
    # hand (kept by the pool), so a server that dies afterwards costs nothing.
    fetch_outputs: bool = False


class IllegalTransition(RuntimeError):
    """A job was asked to move between states in a way its lifecycle forbids: a bug."""


def new_job_id() -> str:
    """A fresh job id (made on the caller's thread, so submitting needs no round trip)."""
    return uuid.uuid4().hex[:12]


class Job:
    """The pool's record of one job. Lives on the pool's event loop only."""

    def __init__(self, spec: JobSpec, loop: asyncio.AbstractEventLoop, max_attempts: int,
                 job_id: str | None = None, created: float | None = None) -> None:
        self.id = job_id or new_job_id()
        self.spec = spec
        self.label = spec.label or self.id
        self.key = spec.workflow_key or workflow_key(spec.prompt)
        self.max_attempts = spec.max_attempts or max_attempts
        self._state = JobState.QUEUED
        self._server: str | None = None
        self._prompt_id: str | None = None
        self._progress = Progress()
        self.attempts: list[Attempt] = []
        self._outputs: list[OutputRef] = []
        self._error: JobError | None = None
        self.created = created if created is not None else time.time()
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

    # -- read-only views of the owned state -------------------------------------------
    @property
    def state(self) -> JobState:
        return self._state

    @property
    def server(self) -> str | None:
        return self._server

    @property
    def prompt_id(self) -> str | None:
        return self._prompt_id

    @property
    def progress(self) -> Progress:
        return self._progress

    @property
    def outputs(self) -> tuple[OutputRef, ...]:
        return tuple(self._outputs)

    @property
    def error(self) -> JobError | None:
        return self._error

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(
            id=self.id,
            label=self.label,
            state=self._state,
            server=self._server,
            prompt_id=self._prompt_id,
            progress=self._progress,
            attempts=tuple(Attempt(**a.__dict__) for a in self.attempts),
            outputs=tuple(self._outputs),
            error=self._error,
            created=self.created,
            finished=self.finished,
            workflow_key=self.key,
        )

    # -- transitions -------------------------------------------------------------------
    def _expect(self, what: str, *states: JobState) -> None:
        if self._state not in states:
            raise IllegalTransition(f"job {self.id}: cannot become {what} while {self._state.value}")

    def _current_attempt(self) -> Attempt | None:
        if self.attempts and self.attempts[-1].outcome is AttemptOutcome.RUNNING:
            return self.attempts[-1]
        return None

    def _end_attempt(self, outcome: AttemptOutcome, error: JobError | None) -> None:
        attempt = self._current_attempt()
        if attempt is not None:
            attempt.outcome = outcome
            attempt.error = error
            attempt.ended = time.time()

    def submitted(self, attempt: Attempt) -> None:
        """queued → submitted: ``attempt`` starts on its server."""
        self._expect("submitted", JobState.QUEUED)
        self.attempts.append(attempt)
        self._state = JobState.SUBMITTED
        self._server, self._prompt_id = attempt.server, attempt.prompt_id

    def running(self) -> None:
        """submitted → running: the server started executing it (again while running: no change)."""
        if self._state.final or self._state is JobState.RUNNING:
            return  # a late or repeated event from the server
        self._expect("running", JobState.SUBMITTED)
        self._state = JobState.RUNNING

    def progressed(self, progress: Progress) -> None:
        """Progress of the running attempt."""
        if self._state.final:
            return  # a late event from the server
        self._expect("progressed", JobState.SUBMITTED, JobState.RUNNING)
        self._progress = progress

    def requeued(self, not_before: float, error: JobError) -> None:
        """submitted/running → queued: the attempt failed with ``error`` and the job waits
        (until monotonic ``not_before``) for another try, on another server if it can."""
        self._expect("requeued", JobState.SUBMITTED, JobState.RUNNING)
        self._end_attempt(AttemptOutcome.RETRIED, error)
        if self._server is not None:
            self.failed_on.add(self._server)
        self._state = JobState.QUEUED
        self._server = self._prompt_id = None
        self._progress = Progress()
        self.not_before = not_before
        self.waiting_since = time.monotonic()

    def note_afterwards(self, prompt_id: str, what: str, *, duplicate: bool = False) -> bool:
        """Record what became of an abandoned attempt's prompt on its server (in any state:
        it may be learnt after the job ended). False when no attempt used ``prompt_id``."""
        for attempt in self.attempts:
            if attempt.prompt_id == prompt_id:
                attempt.afterwards = what
                attempt.duplicate = duplicate
                return True
        return False

    def finish(self, state: JobState, error: JobError | None = None, *, outputs: list[OutputRef] | None = None,
               attempt_error: JobError | None = None, abandoned: bool = False) -> bool:
        """Move to a final state once; later calls are ignored (never reported twice).

        The running attempt ends with the same outcome and ``attempt_error`` (default:
        ``error``); ``abandoned`` marks it as cut short by the backend closing.
        """
        if self._state.final:
            return False
        if not state.final:
            raise IllegalTransition(f"job {self.id}: finish with {state.value}, which is not a final state")
        outcome = AttemptOutcome.ABANDONED if abandoned else {
            JobState.SUCCEEDED: AttemptOutcome.SUCCEEDED,
            JobState.FAILED: AttemptOutcome.FAILED,
            JobState.CANCELLED: AttemptOutcome.CANCELLED,
        }[state]
        self._end_attempt(outcome, attempt_error or error)
        self._state = state
        self._error = error
        self.finished = time.time()
        if outputs is not None:
            self._outputs = list(outputs)
        if state is JobState.SUCCEEDED:
            self._progress = Progress(
                node=None, node_index=self._progress.node_index, node_count=self._progress.node_count, fraction=1.0
            )
        if not self.future.done():
            self.future.set_result(self.snapshot())
        return True
