"""Choosing a server for each job: capability, estimates and pluggable policies.

The default policy is *earliest expected finish*: for each waiting job, in
order, it estimates when every eligible server would finish it (the work
already ahead of it there, ours and other users', plus this job's learned
duration on that server) and picks the earliest. A job whose best server is
busy waits for it instead of going to a slower idle one; that is what keeps
fast GPUs fed and avoids the slow-straggler tail at the end of a batch.

Durations are learned per (server, workflow) and generalised with a per-server
speed factor, so a workflow seen on one server gets a sensible estimate on the
others, and a new workflow gets one from the server's speed.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Protocol

from .workflow.nodedefs import combo_options

_MODEL_EXT = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx|pkl)$", re.I)


# ---------------------------------------------------------------- estimates
class Estimator:
    """Learned seconds per job, per server and workflow (exponential moving averages)."""

    def __init__(self, default_seconds: float = 5.0, alpha: float = 0.35) -> None:
        self.default_seconds = default_seconds
        self.alpha = alpha
        self.obs: dict[tuple[str, str], float] = {}
        self._factors: dict[str, float] | None = None
        self._costs: dict[str, float] | None = None

    def observe(self, server: str, workflow: str, seconds: float) -> None:
        if seconds <= 0 or not math.isfinite(seconds):
            return
        key = (server, workflow)
        old = self.obs.get(key)
        self.obs[key] = seconds if old is None else old + self.alpha * (seconds - old)
        self._factors = self._costs = None

    def _fit(self) -> None:
        # log t(s, w) ≈ a_s + b_w, fitted by alternating means (a few passes converge
        # for the handful of servers and workflows we see); a is centred on 0.
        logt = {k: math.log(t) for k, t in self.obs.items()}
        a: dict[str, float] = {s: 0.0 for s, _ in logt}
        b: dict[str, float] = {}
        for _ in range(12):
            sums: dict[str, list[float]] = {}
            for (s, w), v in logt.items():
                sums.setdefault(w, []).append(v - a[s])
            b = {w: sum(v) / len(v) for w, v in sums.items()}
            sums = {}
            for (s, w), v in logt.items():
                sums.setdefault(s, []).append(v - b[w])
            a = {s: sum(v) / len(v) for s, v in sums.items()}
            centre = sum(a.values()) / len(a) if a else 0.0
            a = {s: v - centre for s, v in a.items()}
        self._factors = {s: math.exp(v) for s, v in a.items()}
        self._costs = {w: math.exp(v) for w, v in b.items()}

    def factor(self, server: str) -> float:
        if self._factors is None:
            self._fit()
        assert self._factors is not None
        return self._factors.get(server, 1.0)

    def estimate(self, server: str, workflow: str) -> float:
        t = self.obs.get((server, workflow))
        if t is not None:
            return t
        if self._costs is None:
            self._fit()
        assert self._costs is not None
        cost = self._costs.get(workflow)
        if cost is None:
            cost = median(self._costs.values()) if self._costs else self.default_seconds
        return cost * self.factor(server)

    def typical(self, server: str) -> float:
        """A typical job on this server, to weigh jobs queued there by other users."""
        if self._costs is None:
            self._fit()
        assert self._costs is not None
        base = median(self._costs.values()) if self._costs else self.default_seconds
        return base * self.factor(server)


# ---------------------------------------------------------------- capability
def _input_spec(info: dict[str, Any], name: str) -> Any:
    inputs = info.get("input") or {}
    for section in ("required", "optional"):
        sec = inputs.get(section) or {}
        if name in sec:
            return sec[name]
    return None


def missing_capabilities(
    prompt: dict[str, Any],
    object_info: dict[str, Any],
    models: dict[str, list[str]] | None = None,
    skip_inputs: set[tuple[str, str]] | None = None,
) -> list[str]:
    """Why this server cannot run ``prompt``: missing node classes or missing files.

    A string value of a combo input must be one of the server's options; a
    model-looking file that is not yet in the (cached) options is accepted if
    the server's ``/models`` lists have it. Inputs we upload ourselves
    (``skip_inputs``) and linked inputs are not checked.
    """
    problems: list[str] = []
    all_models: set[str] = set()
    for files in (models or {}).values():
        all_models.update(files)
    skip = skip_inputs or set()
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        cls = node.get("class_type")
        info = object_info.get(cls) if isinstance(cls, str) else None
        if not info:
            problems.append(f"node type {cls} is not installed")
            continue
        for name, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str) or (str(node_id), name) in skip:
                continue
            spec = _input_spec(info, name)
            opts = combo_options(spec)
            if opts is None or value in opts:
                continue
            extra = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
            if extra.get("image_upload") or extra.get("allow_batch") or extra.get("multiselect"):
                continue
            if _MODEL_EXT.search(value):
                if value in all_models or value.replace("\\", "/") in all_models:
                    continue
                problems.append(f"model file {value} is missing ({cls}.{name})")
            elif value.replace("\\", "/") not in opts:
                problems.append(f"{cls}.{name} has no option '{value}'")
    return sorted(set(problems))


# ---------------------------------------------------------------- policies
@dataclass
class ServerLoad:
    """What a policy may know of a server when it decides."""

    id: str
    order: int
    free_slots: int
    in_flight: int
    queue_len: int            # everything in the server's own queue (ours and foreign)
    backlog_seconds: float    # expected time until the work already there is done
    estimate: float           # expected seconds of this job on this server
    last_used: float = 0.0    # when we last gave it a job (monotonic)
    extra: dict[str, Any] = field(default_factory=dict)


class Policy(Protocol):
    """Pick a server for a job among eligible ones, or None to let it wait."""

    name: str
    waits_for_best: bool  # may it hold a job back although a server is free?

    def choose(self, candidates: list[ServerLoad]) -> ServerLoad | None: ...


class EarliestFinishPolicy:
    """Default: the server that is expected to finish this job first (load × speed aware)."""

    name = "default"
    waits_for_best = True

    def choose(self, candidates: list[ServerLoad]) -> ServerLoad | None:
        if not candidates:
            return None
        # Ties (idle servers of equal speed) go to the least recently used one: load spreads,
        # every server's speed gets learned early, and a chained job lands on a fresh server.
        return min(candidates, key=lambda c: (round(c.backlog_seconds + c.estimate, 6), c.in_flight, c.last_used, c.order))


class LeastQueuePolicy:
    """Baseline: any free server with the shortest queue (ours plus foreign)."""

    name = "least-queue"
    waits_for_best = False

    def choose(self, candidates: list[ServerLoad]) -> ServerLoad | None:
        free = [c for c in candidates if c.free_slots > 0]
        if not free:
            return None
        return min(free, key=lambda c: (c.queue_len + c.in_flight, c.order))


class RoundRobinPolicy:
    """Baseline: free servers in turn, ignoring load and speed."""

    name = "round-robin"
    waits_for_best = False

    def __init__(self) -> None:
        self._next = 0

    def choose(self, candidates: list[ServerLoad]) -> ServerLoad | None:
        free = sorted((c for c in candidates if c.free_slots > 0), key=lambda c: c.order)
        if not free:
            return None
        for c in free:
            if c.order >= self._next:
                self._next = c.order + 1
                return c
        self._next = free[0].order + 1
        return free[0]


def make_policy(name: str) -> Policy:
    policies: dict[str, Callable[[], Policy]] = {
        "default": EarliestFinishPolicy,
        "earliest-finish": EarliestFinishPolicy,
        "least-queue": LeastQueuePolicy,
        "round-robin": RoundRobinPolicy,
    }
    try:
        return policies[name]()
    except KeyError:
        raise ValueError(f"unknown scheduling policy '{name}' (choose from {', '.join(sorted(policies))})") from None
