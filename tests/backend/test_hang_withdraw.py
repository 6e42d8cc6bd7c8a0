"""A hung server: its jobs leave it at once, and their prompts are withdrawn in time.

Without real servers: a stub client for the withdrawal's requests, fake servers for the pool.
The waits below are deadlock guards (the old behaviour waited minutes), never speed checks.
"""
from __future__ import annotations

import asyncio
from typing import Any

from comfy_backend import attempt as attempt_module
from comfy_backend.jobs import JobSpec
from comfy_backend.models import Health, JobState
from comfy_backend.withdraw import Withdrawals
from tests.backend.test_pool_fake import prompt, wait_for


class StoppedThenResumed:
    """A client whose server answers nothing until both withdrawal requests are in flight.

    Like a SIGSTOPped ComfyUI holding them in its backlog: if the interrupt were sent only
    after the delete's answer (one round trip after the resume, while the executor already
    runs), this server would never answer at all.
    """

    id = "stub"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.both_in_flight = asyncio.Event()

    async def request(self, method: str, path: str, *, json_body: Any = None, timeout: float | None = None) -> Any:
        self.sent.append((method, path))
        if method == "POST":
            if sum(m == "POST" for m, _ in self.sent) >= 2:
                self.both_in_flight.set()
            await self.both_in_flight.wait()
            return None
        if path == "/queue":
            return {"queue_running": [], "queue_pending": []}
        return {}  # no history: withdrawn before it ran


async def test_interrupt_and_delete_are_in_flight_together_interrupt_first():
    client = StoppedThenResumed()
    verdicts: list[tuple[str, str, str, bool]] = []
    withdrawals = Withdrawals(client, lambda *v: verdicts.append(v))  # type: ignore[arg-type]
    withdrawals.abandon("job1", "p1")
    withdrawals.abandon("job1", "p1")  # idempotent
    await wait_for(lambda: not withdrawals.pending, timeout=30)
    assert client.sent[:2] == [("POST", "/interrupt"), ("POST", "/queue")]
    assert verdicts == [("job1", "p1", "withdrawn before it ran", False)]
    await withdrawals.close()




async def test_a_failed_check_is_confirmed_at_once_not_after_an_interval(pool_of):
    # With checks 300 s apart, only the immediate re-check after a failure can mark it offline.
    pool, servers = await pool_of(1, health_interval=300.0, offline_after=2)
    handle = pool.servers["f0"]
    assert handle.health is Health.ONLINE
    await servers[0].stop()
    handle.check_soon()
    await wait_for(lambda: handle.health is Health.OFFLINE, timeout=60)
    assert handle.fail_count >= 2


async def test_job_leaves_a_hung_server_during_a_poll_and_is_resubmitted_in_front(pool_of, monkeypatch):
    # A poll that would wait 600 s for its answer: the job must leave as soon as the server is
    # offline, not when the poll times out, and its prompt is withdrawn from then on.
    monkeypatch.setattr(attempt_module, "POLL_TIMEOUT_S", 600.0)
    monkeypatch.setattr(attempt_module, "QUIET_POLL_S", 0.02)  # polled even while messages come
    pool, servers = await pool_of(2, health_interval=0.5, max_attempts=3)
    job = pool.submit(JobSpec(prompt(ms=3000), label="long"))
    await wait_for(lambda: job.state is JobState.RUNNING, timeout=30)
    first = pool.servers[job.server or ""]
    other = next(s for s in pool.servers.values() if s is not first)
    never, polling = asyncio.Event(), asyncio.Event()

    async def hung(*_args: Any, **_kwargs: Any) -> Any:
        polling.set()
        await never.wait()

    fronts: list[bool] = []
    submit = other.client.submit

    async def recording_submit(*args: Any, front: bool = False, **kwargs: Any) -> Any:
        fronts.append(front)
        return await submit(*args, front=front, **kwargs)

    monkeypatch.setattr(first.client, "queue", hung)
    monkeypatch.setattr(first.client, "history", hung)
    monkeypatch.setattr(other.client, "submit", recording_submit)
    await asyncio.wait_for(polling.wait(), 30)  # the job is inside a poll that will never be answered
    await servers[int(first.id[1:])].stop()
    snap = await asyncio.wait_for(job.future, 60)
    assert snap.state is JobState.SUCCEEDED and snap.server == other.id
    assert [a.server for a in snap.attempts] == [first.id, other.id]
    assert fronts == [True]  # the retry went ahead of our prompts waiting there (none foreign)
    assert job.attempts[0].prompt_id in first.withdrawals.pending  # withdrawn once it answers
