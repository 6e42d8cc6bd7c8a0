"""Plain data the backend hands out: jobs, attempts, progress, outputs, server snapshots.

These are dataclasses, not pydantic models: external data is validated at the
edge (config, workflow files); these are built by our own code on hot paths.
Snapshots handed to other threads are frozen copies.
"""
from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import JobError


class JobState(str, enum.Enum):
    QUEUED = "queued"          # waiting in our queue for a server
    SUBMITTED = "submitted"    # accepted by a server, waiting in its queue
    RUNNING = "running"        # the server is executing it
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class Health(str, enum.Enum):
    ONLINE = "online"      # green
    DEGRADED = "degraded"  # yellow: slow or a failed check, still usable
    OFFLINE = "offline"    # red
    UNKNOWN = "unknown"    # not checked yet
    DISABLED = "disabled"


class MediaKind(str, enum.Enum):
    IMAGE = "image"
    MASK = "mask"
    VIDEO = "video"
    AUDIO = "audio"
    OTHER = "other"


_VIDEO_EXT = (".mp4", ".webm", ".mov", ".mkv", ".gif", ".avi")
_AUDIO_EXT = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a")
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class OutputRef:
    """A file a server produced: enough to fetch it through ``GET /view``."""

    server: str
    node_id: str
    filename: str
    subfolder: str
    type: str  # output | temp | input
    key: str = "images"  # the history output list it came from (images, gifs, videos, audio...)

    @property
    def kind(self) -> MediaKind:
        low = self.filename.lower()
        if low.endswith(_VIDEO_EXT) or self.key in ("gifs", "videos", "video"):
            return MediaKind.VIDEO
        if low.endswith(_AUDIO_EXT) or self.key == "audio":
            return MediaKind.AUDIO
        if low.endswith(_IMAGE_EXT):
            return MediaKind.IMAGE
        return MediaKind.OTHER

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def outputs_from_history(server: str, outputs: dict[str, Any]) -> list[OutputRef]:
    """Collect every file reference from a history entry's ``outputs``.

    ComfyUI nodes report files under various keys (``images``, ``gifs``, ``videos``,
    ``audio``, custom ones); anything that is a list of dicts with a ``filename`` counts.
    """
    refs: list[OutputRef] = []
    for node_id, node_out in (outputs or {}).items():
        if not isinstance(node_out, dict):
            continue
        for key, items in node_out.items():
            if not isinstance(items, list):
                continue
            for it in items:
                if isinstance(it, dict) and isinstance(it.get("filename"), str):
                    refs.append(
                        OutputRef(
                            server=server,
                            node_id=str(node_id),
                            filename=it["filename"],
                            subfolder=str(it.get("subfolder") or ""),
                            type=str(it.get("type") or "output"),
                            key=key,
                        )
                    )
    return refs


@dataclass(frozen=True)
class Progress:
    """Where a running prompt is: current node, step value/max, overall fraction."""

    node: str | None = None
    node_index: int = 0      # nodes started so far (1-based once running)
    node_count: int = 0      # nodes to execute (excluding cached ones once known)
    value: float = 0.0       # step value of the current node (e.g. sampler step)
    max: float = 0.0
    fraction: float = 0.0    # 0..1 for the whole prompt


class AttemptOutcome(str, enum.Enum):
    """How one attempt ended (or that it has not yet)."""

    RUNNING = "running"        # submitted to its server, not ended yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"          # the job failed with it
    RETRIED = "retried"        # it failed and the job went back to the queue
    CANCELLED = "cancelled"    # the job was cancelled during it
    ABANDONED = "abandoned"    # the backend closed while it ran


@dataclass
class Attempt:
    """One try of a job on one server. Its outcome is set by the Job's transitions."""

    server: str
    prompt_id: str
    started: float = field(default_factory=time.time)
    ended: float | None = None
    outcome: AttemptOutcome = AttemptOutcome.RUNNING
    error: JobError | None = None
    queue_wait: float | None = None      # seconds between submit and execution_start
    run_seconds: float | None = None     # seconds between execution_start and completion
    # What became of this attempt's prompt on its server after the job left it (withdrawn,
    # interrupted, or executed anyway: a duplicate execution); None while unknown or not abandoned.
    afterwards: str | None = None
    duplicate: bool = False              # the abandoned prompt still ran to completion there

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "prompt_id": self.prompt_id,
            "started": self.started,
            "ended": self.ended,
            "outcome": self.outcome.value,
            "error": self.error.to_dict() if self.error else None,
            "queue_wait": self.queue_wait,
            "run_seconds": self.run_seconds,
            "afterwards": self.afterwards,
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True)
class JobSnapshot:
    """An immutable copy of a job's state, safe to hand to any thread."""

    id: str
    label: str
    state: JobState
    server: str | None
    prompt_id: str | None
    progress: Progress
    attempts: tuple[Attempt, ...]
    outputs: tuple[OutputRef, ...]
    error: JobError | None
    created: float
    finished: float | None
    workflow_key: str

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else self.finished - self.created

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "status": self.state.value,
            "server": self.server,
            "prompt_id": self.prompt_id,
            "progress": asdict(self.progress),
            "attempts": [a.to_dict() for a in self.attempts],
            "outputs": [o.to_dict() for o in self.outputs],
            "error": self.error.to_dict() if self.error else None,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class ServerSnapshot:
    """One server as the pool sees it right now."""

    id: str
    name: str
    url: str
    tags: tuple[str, ...]
    enabled: bool
    health: Health
    latency_ms: float | None
    last_heartbeat: float | None
    last_error: str | None
    in_flight: int
    max_concurrent: int
    queue_running: int      # from /queue: everything the server is running
    queue_pending: int      # from /queue: everything waiting there, ours and others'
    foreign_queued: int     # jobs in its queue that are not ours (web UI, other users)
    vram_total: int | None
    vram_free: int | None
    ram_total: int | None
    ram_free: int | None
    device: str | None
    comfyui_version: str | None
    completed: int
    failed: int
    jobs_per_minute: float
    mean_run_seconds: float | None
    # Added for monitoring; defaults keep older constructors working.
    retried: int = 0                       # jobs that failed here and were retried elsewhere
    mean_queue_wait: float | None = None   # mean submit → start of recent jobs, seconds
    is_cpu: bool = False                   # ComfyUI runs on the CPU: its "VRAM" is system RAM
    agent: bool = False                    # the ryven_comfy_agent route answers
    cpu_percent: float | None = None       # agent only
    gpu_percent: float | None = None       # agent only (NVML)
    temperature_c: float | None = None     # agent only: the GPU's, else the CPU's
    removed: bool = False                  # the last snapshot of a server taken out of the pool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["health"] = self.health.value
        d["tags"] = list(self.tags)
        return d
