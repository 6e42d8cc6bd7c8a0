"""Withdrawing abandoned prompts from a server, and finding out what became of them.

When a job leaves a server without a result (the server hung, dropped off, or the job
stalled there), its prompt may still sit in that server's queue and run when the server
comes back, for nobody. Each such prompt is withdrawn with a targeted
``POST /interrupt {"prompt_id": id}`` and ``POST /queue {"delete": [id]}``, both sent at
once, the interrupt first, each on a connection of its own and with a long timeout: a
server that is only stopped (SIGSTOP) finds both waiting in its listen backlog and handles
them in its first turns after it resumes. Neither waits for the other's answer: that round
trip, on a loaded machine tens of milliseconds, is enough for a prompt that was running at
the stop to pass its next node boundary, where ComfyUI's executor checks the interrupt flag
(``execution.py``: ``before_node_execution`` before each node). A node already executing
when the server stopped runs to its end; if it is the prompt's last, the prompt completes
(a duplicate execution no one can prevent from outside). A server that does not answer at
all is asked again every second, for up to ``WITHDRAW_TTL`` seconds. Once withdrawn, the server's ``/queue`` and ``/history`` tell
what happened to the prompt: withdrawn before it ran, interrupted, or executed anyway (a
duplicate execution, which is logged and reported to the job's attempt).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ServerError

if TYPE_CHECKING:
    from .client import ComfyClient

log = logging.getLogger(__name__)

WITHDRAW_TTL = 600.0        # seconds we keep trying to reach a server to withdraw a prompt
_REQUEST_TIMEOUT = 60.0     # long on purpose: a stopped server handles it when it resumes
_RETRY_S = 1.0
_SETTLE_TTL = 120.0         # how long we watch a withdrawn prompt that is still running there

#: (job id, prompt id, what became of it, whether it executed anyway)
Verdict = Callable[[str, str, str, bool], None]


def _in_queue(queue: Any, prompt_id: str) -> bool:
    if not isinstance(queue, dict):
        return False
    for key in ("queue_running", "queue_pending"):
        items = queue.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, list) and len(item) > 1 and item[1] == prompt_id:
                return True
    return False


def describe_history(entry: Any) -> tuple[str, bool]:
    """What a history entry says about an abandoned prompt: (text, executed to completion?)."""
    if not isinstance(entry, dict):
        return "withdrawn before it ran", False
    raw_status = entry.get("status")
    status: dict[str, Any] = raw_status if isinstance(raw_status, dict) else {}
    if status.get("status_str") == "success":
        return "executed anyway after it was abandoned (duplicate execution)", True
    raw_messages = status.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    if any(isinstance(m, list) and m and m[0] == "execution_interrupted" for m in messages):
        return "interrupted after it was abandoned", False
    return "ended with an error after it was abandoned", False


class Withdrawals:
    """The prompts being withdrawn from one server."""

    def __init__(self, client: ComfyClient, on_verdict: Verdict | None = None) -> None:
        self.client = client
        self.on_verdict = on_verdict
        self.pending: dict[str, str] = {}   # prompt id -> job id, until we know its fate
        self._tasks: set[asyncio.Task[None]] = set()

    def abandon(self, job_id: str, prompt_id: str) -> None:
        """Start withdrawing ``prompt_id`` (idempotent); its requests leave on the next loop turn."""
        if prompt_id in self.pending:
            return
        self.pending[prompt_id] = job_id
        log.debug("server %s: withdrawing abandoned prompt %s of job %s", self.client.id, prompt_id, job_id)
        task = asyncio.create_task(self._withdraw(job_id, prompt_id), name=f"withdraw:{self.client.id}:{prompt_id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _withdraw(self, job_id: str, prompt_id: str) -> None:
        deadline = time.monotonic() + WITHDRAW_TTL
        try:
            while True:
                try:
                    await self._ask(prompt_id)
                    break
                except ServerError as exc:
                    if time.monotonic() > deadline:
                        log.warning("server %s: gave up withdrawing abandoned prompt %s: %s", self.client.id, prompt_id, exc)
                        self._report(job_id, prompt_id, f"could not be withdrawn: {exc}", False)
                        return
                    await asyncio.sleep(_RETRY_S)
            what, executed = await self._fate(prompt_id)
        except ServerError as exc:
            what, executed = f"unknown (server did not answer: {exc})", False
        if executed:
            log.warning("server %s: abandoned prompt %s of job %s executed anyway (duplicate execution)",
                        self.client.id, prompt_id, job_id)
        else:
            log.info("server %s: abandoned prompt %s of job %s: %s", self.client.id, prompt_id, job_id, what)
        self._report(job_id, prompt_id, what, executed)

    async def _ask(self, prompt_id: str) -> None:
        """Send the targeted interrupt and the queue delete together; raise if either failed.

        The interrupt's task is created first, so its connection is opened (and queued in a
        stopped server's backlog) first; both are in flight before either is answered.
        """
        sent = time.monotonic()
        results = await asyncio.gather(
            self._post(prompt_id, "/interrupt", {"prompt_id": prompt_id}, sent),
            self._post(prompt_id, "/queue", {"delete": [prompt_id]}, sent),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _post(self, prompt_id: str, path: str, body: dict[str, Any], sent: float) -> None:
        await self.client.request("POST", path, json_body=body, timeout=_REQUEST_TIMEOUT)
        # Timings for the record: on a resumed server, how long its answers took to come back.
        log.debug("server %s: withdrawing %s: %s answered %.3f s after it was sent",
                  self.client.id, prompt_id, path, time.monotonic() - sent)

    async def _fate(self, prompt_id: str) -> tuple[str, bool]:
        """Wait until the prompt is out of the server's queue, then read its history."""
        end = time.monotonic() + _SETTLE_TTL
        while time.monotonic() < end:
            queue = await self.client.request("GET", "/queue", timeout=_REQUEST_TIMEOUT)
            if not _in_queue(queue, prompt_id):
                break
            # Still there (a late POST of ours may have queued it after the delete, or it runs and
            # the interrupt acts only at the next node boundary): ask again meanwhile.
            await self._ask(prompt_id)
            await asyncio.sleep(_RETRY_S)
        body = await self.client.request("GET", f"/history/{prompt_id}", timeout=_REQUEST_TIMEOUT)
        return describe_history(body.get(prompt_id) if isinstance(body, dict) else None)

    def _report(self, job_id: str, prompt_id: str, what: str, executed: bool) -> None:
        self.pending.pop(prompt_id, None)
        if self.on_verdict is not None:
            self.on_verdict(job_id, prompt_id, what, executed)
