"""Queue and history of a fake server (`execution.PromptQueue` of ComfyUI 0.3.75)."""
from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAXIMUM_HISTORY_SIZE = 10000


@dataclass
class QueueItem:
    """One queued prompt: `[number, prompt_id, prompt, extra_data, outputs_to_execute]`."""
    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    #: Fixed execution time (scaled seconds) instead of the cost model, for foreign jobs.
    fixed_seconds: float | None = None
    seq: int = 0

    @property
    def client_id(self) -> str | None:
        return self.extra_data.get("client_id")

    def as_list(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


@dataclass
class ExecutionRecord:
    """What the executor did with one prompt (for tests: duplicates, timings, outcome)."""
    prompt_id: str
    client_id: str | None
    prompt: dict[str, Any]
    started: float
    finished: float | None = None
    status: str = "running"  # running | success | error | interrupted | lost


class PromptQueue:
    """Pending heap ordered by (number, arrival), the running item and the history."""

    def __init__(self, on_update: Callable[[], None]) -> None:
        self._on_update = on_update
        self._heap: list[tuple[float, int, QueueItem]] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}

    # ----- queue -----------------------------------------------------------
    def put(self, item: QueueItem) -> None:
        item.seq = next(self._seq)
        heapq.heappush(self._heap, (item.number, item.seq, item))
        self._on_update()
        self._wakeup.set()

    async def get(self) -> QueueItem:
        while not self._heap:
            self._wakeup.clear()
            await self._wakeup.wait()
        _, _, item = heapq.heappop(self._heap)
        self.running = item
        self._on_update()
        return item

    def remaining(self) -> int:
        return len(self._heap) + (1 if self.running is not None else 0)

    def pending(self) -> list[QueueItem]:
        return [entry[2] for entry in sorted(self._heap, key=lambda e: (e[0], e[1]))]

    def delete(self, prompt_id: str) -> bool:
        for i, (_, _, item) in enumerate(self._heap):
            if item.prompt_id == prompt_id:
                self._heap.pop(i)
                heapq.heapify(self._heap)
                self._on_update()
                return True
        return False

    def wipe(self) -> None:
        self._heap = []
        self._on_update()

    def task_done(self, item: QueueItem, outputs: dict[str, Any], meta: dict[str, Any], status: dict[str, Any]) -> None:
        """Store the history entry, drop the running item, broadcast the queue length."""
        if self.running is item:
            self.running = None
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        # Re-used prompt ids overwrite the entry in place, as in the real server.
        self.history[item.prompt_id] = {"prompt": item.as_list(), "outputs": outputs,
                                        "status": status, "meta": meta}
        self._on_update()

    # ----- history ------------------------------------------------------------
    def get_history(self, max_items: int | None = None, offset: int = -1) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        for i, key in enumerate(self.history):
            if i >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def delete_history(self, prompt_id: str) -> None:
        self.history.pop(prompt_id, None)

    def wipe_history(self) -> None:
        self.history = {}


@dataclass
class NumberCounter:
    """`PromptServer.number`: increments on every POST /prompt without an explicit number."""
    value: int = 0

    def next(self) -> int:
        n = self.value
        self.value += 1
        return n


@dataclass
class RunState:
    """Per-process state that a restart discards (history, queue, cache, objects)."""
    queue: PromptQueue
    number: NumberCounter = field(default_factory=NumberCounter)
    #: Signature -> cached UI entry ({"meta", "output"} or None) of the last prompt's nodes.
    cache: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: PreviewImage's per-node random filename suffix (lives in the node object cache).
    preview_suffix: dict[str, str] = field(default_factory=dict)
