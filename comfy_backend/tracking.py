"""PromptTracker: follows one submitted prompt from WebSocket messages to its end.

The end is ``executing`` with ``node: null`` for our prompt (never
``execution_success`` alone: the history is written after it). Errors and
interrupts seen on the way are remembered and turned into the outcome once
the end arrives. Progress is derived from ``progress_state`` (cumulative per
node) when the server sends it, else from ``executing`` and ``progress``.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import Progress


@dataclass
class WsImage:
    """An image that arrived as a binary WebSocket frame (SaveImageWebsocket or a preview)."""

    node_id: str | None
    mime: str
    data: bytes


@dataclass
class TrackerOutcome:
    """What the WebSocket said about the end of a prompt."""

    kind: str  # "done" (executing null seen), "error", "interrupted"
    error: dict[str, Any] | None = None
    ws_outputs: dict[str, Any] = field(default_factory=dict)  # node -> executed output


class PromptTracker:
    """State machine for one prompt on one server."""

    def __init__(
        self,
        prompt_id: str,
        prompt: dict[str, Any],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        on_started: Callable[[], None] | None = None,
        on_image: Callable[[WsImage, bool], None] | None = None,
    ) -> None:
        self.prompt_id = prompt_id
        self.class_types = {str(k): str(v.get("class_type", "")) for k, v in prompt.items() if isinstance(v, dict)}
        self.node_total = max(len(self.class_types), 1)
        self.on_progress = on_progress
        self.on_started = on_started
        self.on_image = on_image
        self.done: asyncio.Future[TrackerOutcome] = asyncio.get_running_loop().create_future()
        self.started_at: float | None = None  # wall time of execution_start
        self.last_activity = time.monotonic()
        self.cached: set[str] = set()
        self.executed_nodes: list[str] = []
        self.error: dict[str, Any] | None = None
        self.interrupted: dict[str, Any] | None = None
        self.ws_outputs: dict[str, Any] = {}
        self.ws_images: list[WsImage] = []
        self._node_states: dict[str, tuple[str, float, float]] = {}
        self._current: str | None = None
        self._value = 0.0
        self._max = 0.0

    # -- message handling -------------------------------------------------
    def handle(self, mtype: str, data: dict[str, Any]) -> None:
        self.last_activity = time.monotonic()
        if self.done.done():
            return
        if mtype == "execution_start":
            self._mark_started()
        elif mtype == "execution_cached":
            self._mark_started()
            self.cached.update(str(n) for n in data.get("nodes") or [])
        elif mtype == "executing":
            node = data.get("node")
            if node is None:
                self._finish()
                return
            self._mark_started()
            node = str(node)
            if node not in self.executed_nodes:
                self.executed_nodes.append(node)
            self._current, self._value, self._max = node, 0.0, 0.0
            self._emit()
        elif mtype == "progress":
            self._current = str(data.get("node")) if data.get("node") is not None else self._current
            self._value = float(data.get("value") or 0)
            self._max = float(data.get("max") or 0)
            self._emit()
        elif mtype == "progress_state":
            nodes = data.get("nodes") or {}
            for nid, st in nodes.items():
                if isinstance(st, dict):
                    self._node_states[str(nid)] = (
                        str(st.get("state", "")),
                        float(st.get("value") or 0),
                        float(st.get("max") or 1) or 1.0,
                    )
            self._emit()
        elif mtype == "executed":
            node = data.get("node")
            if node is not None and isinstance(data.get("output"), dict):
                self.ws_outputs[str(node)] = data["output"]
        elif mtype == "execution_error":
            self.error = data
        elif mtype == "execution_interrupted":
            self.interrupted = data
        elif mtype == "execution_success":
            self._node_states = {k: ("finished", 1.0, 1.0) for k in self._node_states}

    def handle_image(self, meta: dict[str, Any], image: bytes) -> None:
        self.last_activity = time.monotonic()
        node = meta.get("node_id") or meta.get("real_node_id") or self._current
        node = str(node) if node is not None else None
        img = WsImage(node_id=node, mime=str(meta.get("image_type", "image/png")), data=image)
        is_output = node is not None and self.class_types.get(node, "").startswith("SaveImageWebsocket")
        if is_output:
            self.ws_images.append(img)
        if self.on_image:
            self.on_image(img, is_output)

    # -- derived state ------------------------------------------------------
    def _mark_started(self) -> None:
        if self.started_at is None:
            self.started_at = time.time()
            if self.on_started:
                self.on_started()

    def progress(self) -> Progress:
        total = max(self.node_total - len(self.cached), 1)
        if self._node_states:
            done = 0.0
            for state, value, mx in self._node_states.values():
                if state == "finished":
                    done += 1.0
                elif state == "running":
                    done += min(value / mx, 1.0) if mx else 0.0
            total = max(total, len(self._node_states))
            fraction = done / total
        else:
            finished = max(len(self.executed_nodes) - 1, 0)
            step = self._value / self._max if self._max else 0.0
            fraction = (finished + step) / total
        return Progress(
            node=self._current,
            node_index=len(self.executed_nodes),
            node_count=total,
            value=self._value,
            max=self._max,
            fraction=max(0.0, min(fraction, 1.0)),
        )

    def _emit(self) -> None:
        if self.on_progress:
            self.on_progress(self.progress())

    def _finish(self) -> None:
        if self.done.done():
            return
        if self.error is not None:
            outcome = TrackerOutcome("error", self.error, self.ws_outputs)
        elif self.interrupted is not None:
            outcome = TrackerOutcome("interrupted", self.interrupted, self.ws_outputs)
        else:
            outcome = TrackerOutcome("done", None, self.ws_outputs)
        self.done.set_result(outcome)

    def finish_from_poll(self) -> None:
        """Polling found the history entry: end as if ``executing null`` had arrived."""
        self._finish()
