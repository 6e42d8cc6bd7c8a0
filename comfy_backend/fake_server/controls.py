"""Runtime settings and fault switches of a fake server, flipped by tests at any time."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .nodes import NodeCost, NodeFailure, PromptCost, default_node_cost


@dataclass
class Settings:
    """How fast the fake server works. All durations are divided by `speed`."""
    speed: float = 1.0
    history_delay: float = 0.3
    cost: PromptCost | None = None
    node_cost: NodeCost = default_node_cost

    def scaled(self, seconds: float) -> float:
        return max(0.0, seconds) / self.speed if self.speed > 0 else float("inf")


@dataclass
class PostFailure:
    """Injected answer for the next POST /prompt requests."""
    remaining: int
    status: int
    #: Queue the prompt anyway, then answer with the failure (a lost response).
    enqueue: bool = False


@dataclass
class NodeFailureRule:
    failure: NodeFailure
    #: How many more executions fail (None: all of them).
    remaining: int | None = None


@dataclass
class Faults:
    """Fault switches consulted by the routes and the executor."""
    post_failures: list[PostFailure] = field(default_factory=list)
    node_failures: dict[str, NodeFailureRule] = field(default_factory=dict)
    #: Path (``/system_stats``, ``/queue``) -> JSON served instead of the real answer.
    bad_answers: dict[str, Any] = field(default_factory=dict)
    #: Set while the server is not hung; executions wait on it.
    not_hung: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.not_hung.set()

    def take_post_failure(self) -> PostFailure | None:
        while self.post_failures:
            head = self.post_failures[0]
            if head.remaining > 0:
                head.remaining -= 1
                return head
            self.post_failures.pop(0)
        return None

    def take_node_failure(self, class_type: str) -> NodeFailure | None:
        rule = self.node_failures.get(class_type)
        if rule is None:
            return None
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                del self.node_failures[class_type]
        return rule.failure
