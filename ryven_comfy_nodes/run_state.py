"""The run state of a workflow or Save node: an enum of statuses and the transitions allowed between them.

The flow runner moves nodes through these states on the flow's thread; a move
the table does not allow is a bug in the runner and raises ``InvalidTransition``.
Project files store the status as its string value.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from comfy_backend import OutputRef, Progress


class RunStatus(enum.StrEnum):
    """Where a node's run is. The string values are what projects and reports store."""

    IDLE = "idle"
    PENDING = "pending"        # part of a run, waiting for upstream nodes or for its slice of a big start
    STARTING = "starting"      # values checked, about to be submitted
    UPLOADING = "uploading"    # fetching upstream images to hand to the job
    QUEUED = "queued"          # in the backend's queue
    SUBMITTED = "submitted"    # accepted by a server
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"        # not run: an upstream node failed
    CANCELLED = "cancelled"
    SAVING = "saving"          # Save nodes: writing files
    SAVED = "saved"            # Save nodes: files written

    @property
    def busy(self) -> bool:
        """Work is in flight (the node cannot be run again until it ends)."""
        return self in _BUSY

    @property
    def final(self) -> bool:
        """The run of this node ended (well or not)."""
        return self in _FINAL

    @property
    def ok(self) -> bool:
        """Ended with a result downstream nodes can use."""
        return self in (RunStatus.DONE, RunStatus.SAVED)

    @property
    def unsuccessful(self) -> bool:
        """Ended without a result: downstream nodes are blocked; the node offers Retry."""
        return self.final and not self.ok

    @classmethod
    def parse(cls, value: object) -> RunStatus:
        """The status stored in a project; unknown values (older or newer files) read as idle."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.IDLE


_BUSY = frozenset({RunStatus.STARTING, RunStatus.UPLOADING, RunStatus.QUEUED, RunStatus.SUBMITTED,
                   RunStatus.RUNNING, RunStatus.SAVING})
_FINAL = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.BLOCKED, RunStatus.CANCELLED, RunStatus.SAVED})
_IN_JOB = frozenset({RunStatus.QUEUED, RunStatus.SUBMITTED, RunStatus.RUNNING})  # a job may go back (requeue)
_JOB_END = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})

#: allowed moves; staying in the same status (a progress update) is always allowed
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.IDLE: frozenset({RunStatus.PENDING, RunStatus.FAILED}),
    RunStatus.PENDING: frozenset({RunStatus.STARTING, RunStatus.UPLOADING, RunStatus.SAVING,
                                  RunStatus.BLOCKED, RunStatus.FAILED}),
    RunStatus.STARTING: frozenset({RunStatus.QUEUED, RunStatus.FAILED}),
    RunStatus.UPLOADING: frozenset({RunStatus.QUEUED, RunStatus.FAILED}),
    RunStatus.QUEUED: _IN_JOB | _JOB_END,
    RunStatus.SUBMITTED: _IN_JOB | _JOB_END,
    RunStatus.RUNNING: _IN_JOB | _JOB_END,
    RunStatus.SAVING: frozenset({RunStatus.SAVED, RunStatus.FAILED}),
    **{s: frozenset({RunStatus.PENDING, RunStatus.FAILED}) for s in _FINAL},
}

#: a backend job's state (its string value) -> the node's status while the job is in flight
JOB_STATE_STATUS = {"queued": RunStatus.QUEUED, "requeued": RunStatus.QUEUED,
                    "submitted": RunStatus.SUBMITTED, "running": RunStatus.RUNNING}


class InvalidTransition(RuntimeError):
    """The runner tried a move the transition table does not allow (a bug)."""


def check_transition(old: RunStatus, new: RunStatus, what: str = "node") -> RunStatus:
    """``new`` if the move from ``old`` is allowed; raises ``InvalidTransition`` otherwise."""
    if new is not old and new not in TRANSITIONS[old]:
        raise InvalidTransition(f"{what}: {old.value} → {new.value} is not an allowed transition")
    return new


@dataclass(slots=True)
class RunState:
    """What a workflow node shows about its last or current run (written only through the node's methods)."""

    status: RunStatus = RunStatus.IDLE
    server: str | None = None
    progress: Progress = field(default_factory=Progress)
    message: str = ""
    job_id: str | None = None
    outputs: dict[str, list[OutputRef]] = field(default_factory=dict)  # output spec id -> refs
    seconds: float | None = None

    @property
    def busy(self) -> bool:
        return self.status.busy
