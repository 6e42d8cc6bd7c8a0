"""Issue 8 against fake servers: bad answers to health checks, stalls while polling, missing
history, outputs fetched as part of the job, abandoned prompts withdrawn."""
from __future__ import annotations

import asyncio

import pytest

from comfy_backend.errors import ConnectionLost, ErrorKind
from comfy_backend.jobs import JobSpec, Target
from comfy_backend.models import Health, JobState
from comfy_backend.server_answers import BadAnswer, checked_queue, checked_stats
from comfy_backend.withdraw import describe_history
from tests.backend.test_pool_fake import prompt, wait_for


@pytest.mark.parametrize("body", [[1, 2], {"system": [], "devices": []}, {"system": {}, "devices": "cpu"},
                                  {"system": {"ram_free": "lots"}}, {"devices": [{"vram_total": [1]}]}])
def test_checked_stats_refuses_wrong_types(body):
    with pytest.raises(BadAnswer):
        checked_stats(body)


@pytest.mark.parametrize("body", ["queue", [], {"queue_running": 3}, {"queue_pending": {"a": 1}}])
def test_checked_queue_refuses_wrong_types(body):
    with pytest.raises(BadAnswer):
        checked_queue(body)


@pytest.mark.parametrize("path,body", [("/system_stats", {"system": ["not", "a", "dict"], "devices": 5}),
                                       ("/queue", {"queue_running": 7, "queue_pending": "x"}),
                                       ("/queue", ["a", "list"])])
async def test_wrong_typed_health_answers_degrade_and_checks_go_on(pool_of, caplog, path, body):
    pool, servers = await pool_of(1)
    handle = pool.servers["f0"]
    await wait_for(lambda: handle.health is Health.ONLINE)
    servers[0].serve_bad_json(path, body)
    await wait_for(lambda: handle.health is Health.DEGRADED and "bad answer" in (handle.last_error or ""))
    checks = len(handle.metrics.series("latency_ms"))
    await wait_for(lambda: len(handle.metrics.series("latency_ms")) >= checks + 3)  # still checking
    assert sum("bad answer" in r.getMessage() for r in caplog.records) == 1  # one line, not one per check
    servers[0].serve_bad_json(path, None)
    await wait_for(lambda: handle.health is Health.ONLINE)
    snap = await pool.run(JobSpec(prompt()))
    assert snap.state is JobState.SUCCEEDED


async def test_stall_timeout_holds_while_polling_a_running_prompt(pool_of):
    pool, servers = await pool_of(2, stall_timeout=1.0, max_attempts=2)
    job = pool.submit(JobSpec(prompt(ms=400), target=Target(server=None)))
    await wait_for(lambda: job.state is JobState.RUNNING)
    first = job.server
    victim = servers[int(first[1:])]
    victim.hang()                      # HTTP answers, the prompt stays "running" forever
    await victim.drop_websockets()     # and it is followed by polling from now on
    snap = await asyncio.wait_for(job.future, 30)
    victim.unhang()
    assert snap.state is JobState.SUCCEEDED, snap.error
    assert snap.attempts[0].server == first and snap.attempts[1].server != first
    assert snap.attempts[0].error.kind is ErrorKind.TIMEOUT and "no progress" in snap.attempts[0].error.message


async def test_stall_timeout_holds_for_a_prompt_stuck_in_the_queue(pool_of):
    pool, servers = await pool_of(1, stall_timeout=1.0, max_attempts=1)
    servers[0].add_foreign_job(3600)   # someone else's job that never ends: ours waits behind it
    job = pool.submit(JobSpec(prompt()))
    snap = await asyncio.wait_for(job.future, 30)
    assert snap.state is JobState.FAILED
    assert snap.error.kind is ErrorKind.TIMEOUT and "waiting in its queue" in snap.error.message


async def test_missing_history_is_a_failure_not_an_empty_success(pool_of):
    pool, servers = await pool_of(2, max_attempts=2)

    async def no_history(prompt_id: str):
        return None

    pool.servers["f0"].client.history = no_history  # type: ignore[method-assign]
    snap = await pool.run(JobSpec(prompt(), target=Target(server="f0"), max_attempts=1))
    assert snap.state is JobState.FAILED and snap.outputs == ()
    assert snap.error.kind is ErrorKind.TIMEOUT and "history" in snap.error.message
    assert snap.error.retryable
    free = await pool.run(JobSpec(prompt(), max_attempts=3))
    assert free.state is JobState.SUCCEEDED and free.outputs


async def test_fetched_outputs_survive_their_server(pool_of):
    pool, servers = await pool_of(1)
    snap = await pool.run(JobSpec(prompt(), fetch_outputs=True))
    assert snap.state is JobState.SUCCEEDED and snap.outputs
    await servers[0].kill()
    data = await pool.fetch_output(snap.outputs[0])
    assert data.startswith(b"\x89PNG")


async def test_outputs_that_cannot_be_fetched_rerun_the_job_elsewhere(pool_of):
    pool, servers = await pool_of(2, max_attempts=3)
    await wait_for(lambda: all(s.usable and s.info_ready for s in pool.servers.values()))

    async def gone(*args, **kwargs):
        raise ConnectionLost("server 'f0' (/view) is unreachable: reset", server="f0")

    pool.servers["f0"].client.view = gone  # type: ignore[method-assign]
    snaps = [await pool.run(JobSpec(prompt(), fetch_outputs=True)) for _ in range(4)]
    assert all(s.state is JobState.SUCCEEDED and s.server == "f1" for s in snaps), [s.error for s in snaps]
    retried = [s for s in snaps if len(s.attempts) > 1]
    assert retried, "the scheduler never tried f0"
    first = retried[0].attempts[0]
    assert first.server == "f0" and first.error.kind is ErrorKind.CONNECTION_LOST
    assert first.error.message.startswith("outputs not downloaded")


async def test_abandoned_prompt_is_withdrawn_and_its_fate_recorded(pool_of):
    pool, servers = await pool_of(2, stall_timeout=1.0, max_attempts=2)
    job = pool.submit(JobSpec(prompt(ms=400)))
    await wait_for(lambda: job.state is JobState.RUNNING)
    first = job.server
    victim = servers[int(first[1:])]
    victim.hang()
    snap = await asyncio.wait_for(job.future, 30)
    assert snap.state is JobState.SUCCEEDED and snap.server != first
    victim.unhang()
    await wait_for(lambda: job.attempts[0].afterwards is not None, timeout=20)
    assert job.attempts[0].duplicate is False
    entry = victim.history.get(job.attempts[0].prompt_id)
    assert entry is None or entry["status"]["status_str"] != "success"
    assert job.snapshot().attempts[0].to_dict()["afterwards"] == job.attempts[0].afterwards


def test_history_verdicts():
    assert describe_history(None) == ("withdrawn before it ran", False)
    assert describe_history({"status": {"status_str": "success"}})[1] is True
    interrupted = {"status": {"status_str": "error", "messages": [["execution_interrupted", {}]]}}
    assert describe_history(interrupted) == ("interrupted after it was abandoned", False)
