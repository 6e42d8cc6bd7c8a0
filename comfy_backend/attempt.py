"""Running one attempt of a job on one server, from upload to outputs.

Submit with our prompt_id and client_id, follow the WebSocket, and watch over
it: when the socket drops, the server restarts, or nothing is heard for a
while, poll ``/queue`` then ``/history`` (in that order: a prompt absent from
both is truly gone). Completion is ``executing null``; the history is read
only then.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ConnectionLost, ExecutionFailed, Interrupted, JobCancelled, RequestTimeout, ServerError
from .models import Attempt, Health, OutputRef, Progress, outputs_from_history
from .tracking import PromptTracker, TrackerOutcome, WsImage

if TYPE_CHECKING:
    from .jobs import Job
    from .server import ServerHandle

log = logging.getLogger(__name__)

QUIET_POLL_S = 5.0       # with a live socket, check by polling after this much silence
DISCONNECTED_POLL_S = 1.0
POLL_TIMEOUT_S = 5.0     # a poll not answered within this fails (a hung server is not waited for)
_GUARD_TICK_S = 0.5      # how often a download checks that its server is still there


class AttemptRunner:
    """Runs ``job`` once on ``server``; raises a ServerError (or JobCancelled) on failure."""

    def __init__(
        self,
        job: Job,
        server: ServerHandle,
        attempt: Attempt,
        *,
        stall_timeout: float,
        attempt_timeout: float | None,
        on_update: Callable[[str], None],
        store_blob: Callable[[OutputRef, bytes], None],
        on_preview: Callable[[str, WsImage], None] | None = None,
        front: bool = False,
    ) -> None:
        self.job = job
        self.server = server
        self.client = server.client
        self.attempt = attempt
        self.stall_timeout = stall_timeout
        self.attempt_timeout = attempt_timeout
        self.on_update = on_update
        self.store_blob = store_blob
        self.on_preview = on_preview
        self.front = front  # submitted ahead of the server's waiting prompts (see pool_attempts)
        self.submitted_at = 0.0

    async def run(self) -> list[OutputRef]:
        prompt = await self._prepare_prompt()
        pid = self.attempt.prompt_id
        tracker = PromptTracker(
            pid, prompt, on_progress=self._progress, on_started=self._started, on_image=self._image
        )
        self.server.stream.track(tracker)
        try:
            self.submitted_at = time.monotonic()
            # A retryable failure from here on (even a lost answer to this POST, although the
            # server queued the prompt) makes the pool withdraw our prompt_id there.
            # Guarded: a server that stops answering mid-POST is left as soon as it is offline.
            await self._guarded(self.client.submit(prompt, prompt_id=pid, extra_data=self.job.spec.extra_data,
                                                  front=self.front))
            outcome = await self._wait(tracker)
            entry = await self._history(pid)
        finally:
            self.server.stream.untrack(pid)
        status = _mapping(entry.get("status"))
        if outcome.kind == "done" and status.get("status_str") == "error":
            outcome.kind, outcome.error = _error_from_messages(_list(status.get("messages")))
        if outcome.kind == "error":
            raise _execution_failed(outcome.error or {}, self.server.id)
        if outcome.kind == "interrupted":
            if self.job.cancel_requested:
                raise JobCancelled("cancelled")
            raise Interrupted(f"server '{self.server.id}' interrupted the job (someone pressed stop there)", server=self.server.id)
        self._record_times(tracker, entry)
        raw_outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else None
        outputs = outputs_from_history(self.server.id, raw_outputs or tracker.ws_outputs)
        for k, img in enumerate(tracker.ws_images):
            ext = "jpg" if "jpeg" in img.mime else "png"
            ref = OutputRef(self.server.id, img.node_id or "?", f"ws_{pid[:8]}_{img.node_id}_{k:03d}.{ext}", "", "websocket", "images")
            self.store_blob(ref, img.data)
            outputs.append(ref)
        if len(tracker.cached) >= tracker.node_total:
            self.attempt.run_seconds = None  # fully cached: says nothing about speed
        if self.job.spec.fetch_outputs:
            await self._fetch(outputs)
        return outputs

    async def _fetch(self, outputs: list[OutputRef]) -> None:
        """Download every output file now: the job succeeds only once they are in hand."""
        for ref in outputs:
            if ref.type == "websocket":
                continue  # already in hand
            try:
                data = await self._guarded(self.client.view(ref.filename, ref.subfolder, ref.type))
            except ServerError as exc:
                err = type(exc)(f"outputs not downloaded: {exc}", server=self.server.id) \
                    if isinstance(exc, (ConnectionLost, RequestTimeout)) else exc
                raise err from None
            self.store_blob(ref, data)

    async def _guarded(self, coro: Any, *, cancellable: bool = True) -> Any:
        """Await ``coro`` unless the job is cancelled or its server goes offline meanwhile."""
        task = asyncio.ensure_future(coro)
        try:
            while True:
                # One task and a tick, checked by flags: cheap on the hot path (every submit).
                done, _ = await asyncio.wait((task,), timeout=_GUARD_TICK_S)
                if done:
                    return task.result()
                if cancellable and self.job.cancel_requested:
                    raise JobCancelled("cancelled")
                if self.server.health is Health.OFFLINE:
                    raise ConnectionLost(f"server '{self.server.id}' went offline", server=self.server.id)
        finally:
            task.cancel()

    async def _prepare_prompt(self) -> dict[str, Any]:
        server = self.server
        base = self.job.prompt_for(server.id, server.info_version, server.node_defs)
        if not self.job.spec.uploads:
            return base
        prompt = copy.deepcopy(base)
        for up in self.job.spec.uploads:
            node = prompt.get(up.node_id)
            if not isinstance(node, dict):
                continue  # the node was left out (not needed by the wanted outputs): nothing to upload
            name = await self.client.upload_image(up.data, up.filename, subfolder=up.subfolder)
            node.setdefault("inputs", {})[up.input] = name
        return prompt

    # -- callbacks from the tracker ------------------------------------------------
    def _progress(self, p: Progress) -> None:
        self.job.progressed(p)
        self.on_update("progress")

    def _started(self) -> None:
        self.job.running()
        self.attempt.queue_wait = max(time.monotonic() - self.submitted_at, 0.0)
        self.on_update("state")

    def _image(self, img: WsImage, is_output: bool) -> None:
        if self.on_preview is not None and not is_output:
            self.on_preview(self.job.id, img)

    # -- waiting ---------------------------------------------------------------------
    async def _wait(self, tracker: PromptTracker) -> TrackerOutcome:
        stream = self.server.stream
        seen_gen = submit_gen = stream.generation
        started = time.monotonic()
        poll_failures = 0
        missing = 0
        next_poll = 0.0
        quiet = min(QUIET_POLL_S, self.stall_timeout / 2)
        # The last sign of life seen by polling: the prompt moved (pending → running) or the
        # server's queue moved ahead of it. WebSocket messages count through the tracker.
        polled_life = started
        last_seen: tuple[str, str | None, int] | None = None
        cancel_wait: asyncio.Future[Any] = asyncio.ensure_future(self.job.cancel_event.wait())
        try:
            while True:
                # After a reconnect the socket has a new client id: this prompt's events
                # no longer reach us, so it is followed by polling.
                connected = stream.connected.is_set() and stream.generation == submit_gen
                timeout = min(1.0, quiet) if connected and not missing else DISCONNECTED_POLL_S / 2
                waits: set[asyncio.Future[Any]] = {tracker.done, cancel_wait}
                done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if tracker.done in done:
                    return tracker.done.result()
                if cancel_wait in done:
                    await self._cancel_on_server()
                    raise JobCancelled("cancelled")
                now = time.monotonic()
                if self.server.health is Health.OFFLINE:
                    raise ConnectionLost(f"server '{self.server.id}' went offline during the job", server=self.server.id)
                if self.attempt_timeout and now - started > self.attempt_timeout:
                    raise RequestTimeout(
                        f"job took longer than {self.attempt_timeout:g} s on server '{self.server.id}'", server=self.server.id
                    )
                if now - max(tracker.last_activity, polled_life) > self.stall_timeout:
                    # Enforced whether we follow the prompt by WebSocket or by polling, queued or running.
                    where = "running" if tracker.started_at is not None else "waiting in its queue"
                    raise RequestTimeout(
                        f"server '{self.server.id}' showed no progress for {self.stall_timeout:g} s "
                        f"with the job {where} (hung?)", server=self.server.id
                    )
                need_poll = (
                    not connected
                    or missing > 0
                    or stream.generation != seen_gen
                    or (now - tracker.last_activity > quiet and now >= next_poll)
                )
                if not need_poll:
                    continue
                seen_gen = stream.generation
                next_poll = now + quiet
                try:
                    seen = await self._poll(tracker)
                    poll_failures = 0
                except ServerError:
                    poll_failures += 1
                    self.server.check_soon()
                    if poll_failures >= 2:
                        raise
                    continue
                state = seen[0]
                if seen != last_seen:
                    last_seen, polled_life = seen, time.monotonic()
                if state == "finished":
                    tracker.finish_from_poll()
                elif state == "missing":
                    missing += 1
                    if missing >= 2:
                        raise ConnectionLost(
                            f"server '{self.server.id}' lost the job (restarted?)", server=self.server.id
                        )
                else:
                    missing = 0
                    if state == "running" and tracker.started_at is None:
                        tracker.handle("execution_start", {"prompt_id": tracker.prompt_id})
        finally:
            cancel_wait.cancel()

    async def _bounded(self, coro: Any, what: str) -> Any:
        try:
            # Left as soon as the server is offline too: the job (and the withdrawal of its prompt)
            # must not wait out this timeout on a hung server. A cancel is handled by ``_wait``.
            return await asyncio.wait_for(self._guarded(coro, cancellable=False), POLL_TIMEOUT_S)
        except TimeoutError:
            raise RequestTimeout(f"server '{self.server.id}' did not answer {what} within {POLL_TIMEOUT_S:g} s",
                                 server=self.server.id) from None

    async def _poll(self, tracker: PromptTracker) -> tuple[str, str | None, int]:
        """Queue first, then history: a prompt in neither is gone.

        Returns (state, the prompt the server is running, our place in its queue), so that
        the caller sees whether anything moved since the last poll.
        """
        pid = tracker.prompt_id
        q = await self._bounded(self.client.queue(), "/queue")
        running = q.get("queue_running") if isinstance(q, dict) else None
        pending = q.get("queue_pending") if isinstance(q, dict) else None
        running = running if isinstance(running, list) else []
        pending = pending if isinstance(pending, list) else []
        ids = [item[1] if isinstance(item, list) and len(item) > 1 else None for item in running + pending]
        head = ids[0] if ids and isinstance(ids[0], str) else None
        if pid in ids:
            place = ids.index(pid)
            return ("running" if place < len(running) else "pending"), head, place
        if tracker.done.done():
            return "finished", head, 0
        entry = await self._bounded(self.client.history(pid), "/history")
        return ("finished" if entry else "missing"), head, 0

    async def _history(self, pid: str) -> dict[str, Any]:
        for delay in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6):
            if delay:
                await asyncio.sleep(delay)
            entry = await self._bounded(self.client.history(pid), "/history")
            if isinstance(entry, dict) and entry:
                return entry
        # Without its history we cannot tell whether the job succeeded nor all it made (the
        # WebSocket's `executed` messages may be incomplete): a failure, tried elsewhere.
        log.warning("server %s: no history for finished prompt %s", self.server.id, pid)
        raise RequestTimeout(f"server '{self.server.id}' finished the job but never gave its results (no history entry)",
                             server=self.server.id)

    async def _cancel_on_server(self) -> None:
        try:
            await asyncio.wait_for(self.client.cancel(self.attempt.prompt_id), timeout=5.0)
        except (TimeoutError, ServerError) as exc:
            log.info("server %s: could not cancel prompt %s now (%s); withdrawing it when it answers",
                     self.server.id, self.attempt.prompt_id, exc or "timeout")
            self.server.abandon(self.job.id, self.attempt.prompt_id)

    def _record_times(self, tracker: PromptTracker, entry: dict[str, Any]) -> None:
        msgs = _list(_mapping(entry.get("status")).get("messages"))
        ts = {m[0]: m[1].get("timestamp") for m in msgs if isinstance(m, list) and len(m) == 2 and isinstance(m[1], dict)}
        start, end = ts.get("execution_start"), ts.get("execution_success")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start:
            self.attempt.run_seconds = (end - start) / 1000.0
        elif tracker.started_at is not None:
            self.attempt.run_seconds = max(time.time() - tracker.started_at, 0.0)


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` if the server sent an object there, else empty (a bad answer is not trusted)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _error_from_messages(messages: list[Any]) -> tuple[str, dict[str, Any]]:
    for m in reversed(messages):
        if isinstance(m, list) and len(m) == 2:
            data = m[1] if isinstance(m[1], dict) else {}
            if m[0] == "execution_error":
                return "error", data
            if m[0] == "execution_interrupted":
                return "interrupted", data
    return "error", {"exception_message": "the server reported an error without details"}


def _execution_failed(data: dict[str, Any], server: str) -> ExecutionFailed:
    node_type = data.get("node_type") or "?"
    node_id = data.get("node_id")
    exc_type = data.get("exception_type") or "Error"
    text = str(data.get("exception_message") or "").strip().splitlines()
    first = text[0] if text else "failed"
    # Server tracebacks carry absolute paths: never shown, only the exception line.
    return ExecutionFailed(
        f"node {node_id} ({node_type}) failed on server '{server}': {exc_type}: {first}",
        server=server,
        node_id=str(node_id) if node_id is not None else None,
        node_type=node_type,
        exception_type=exc_type,
    )
