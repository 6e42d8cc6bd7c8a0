"""ServerPool's attempts: one job on one server, and what a failed attempt leads to.

A failed attempt goes back to the queue with backoff, avoiding the server it failed on
(failover), unless the failure cannot be helped by retrying or the job is out of attempts;
a prompt left behind on a server is withdrawn there (``withdraw``). A job ends exactly once.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from .attempt import AttemptRunner
from .errors import ComfyBackendError, JobCancelled, JobError, ServerError
from .events import PreviewEvent
from .jobs import Job
from .models import Attempt, JobState
from .pool_state import CLOSED, PoolState
from .server import ServerHandle

# Every part of the pool logs under one name, the one users know from its log lines.
log = logging.getLogger("comfy_backend.pool")


class PoolAttempts(PoolState):
    """Start an attempt, run it to its end, and retry elsewhere or finish the job."""

    def _start_attempt(self, job: Job, server: ServerHandle) -> None:
        attempt = Attempt(server=server.id, prompt_id=str(uuid.uuid4()))
        job.submitted(attempt)
        server.in_flight.add(job.id)
        server.last_used = time.monotonic()
        self._job_changed(job, "state")
        self._server_changed(server)  # its in-flight count is part of the server's snapshot
        self._spawn(self._run_attempt(job, server, attempt))

    async def _run_attempt(self, job: Job, server: ServerHandle, attempt: Attempt) -> None:
        runner = AttemptRunner(
            job,
            server,
            attempt,
            stall_timeout=self.settings.stall_timeout,
            attempt_timeout=self.settings.attempt_timeout,
            on_update=lambda kind: self._job_changed(job, kind),
            store_blob=self._store_blob,
            on_preview=lambda jid, img: self._emit(PreviewEvent(jid, img.node_id, img.mime, img.data)),
            # A job retried after failing elsewhere (e.g. its server hung) has waited longest: it
            # goes ahead of our own prompts waiting there, not behind them (a failover took one
            # job's length longer). Never ahead of other users' prompts.
            front=len(job.attempts) > 1 and server.foreign == 0,
        )
        try:
            outputs = await runner.run()
        except JobCancelled as exc:
            job.finish(JobState.CANCELLED, JobError.from_exception(exc, server=server.id))
        except ServerError as exc:
            server.metrics.record_failure()
            if exc.retryable:
                # The job leaves this server without a result: its prompt may still be queued
                # or running there (hung, lost answer): withdraw it before it runs for nobody.
                server.abandon(job.id, attempt.prompt_id)
            self._after_failure(job, server, JobError.from_exception(exc, server=server.id))
        except ComfyBackendError as exc:
            job.finish(JobState.FAILED, JobError.from_exception(exc, server=server.id))
        except asyncio.CancelledError:
            job.finish(JobState.CANCELLED, CLOSED, abandoned=True)
            raise
        except Exception as exc:
            log.exception("job %s: unexpected error", job.id)
            job.finish(JobState.FAILED, JobError.from_exception(exc, server=server.id))
        else:
            if attempt.run_seconds is not None:
                self.estimator.observe(server.id, job.key, attempt.run_seconds)
            server.metrics.record_success(attempt.run_seconds, attempt.queue_wait)
            job.finish(JobState.SUCCEEDED, outputs=outputs)
        finally:
            server.in_flight.discard(job.id)
            self._job_changed(job, "state")
            self._server_changed(server)  # wakes the dispatcher; the dock no longer shows the job

    def _after_failure(self, job: Job, server: ServerHandle, error: JobError) -> None:
        if not error.retryable or job.cancel_requested:
            job.finish(JobState.CANCELLED if job.cancel_requested else JobState.FAILED, error)
            return
        server.check_soon()
        if len(job.attempts) >= job.max_attempts:
            gave_up = error.with_message(f"gave up after {len(job.attempts)} attempts; last: {error.message}")
            job.finish(JobState.FAILED, gave_up, attempt_error=error)
            return
        server.metrics.record_retry()
        job.requeued(time.monotonic() + self.settings.retry_backoff * (2 ** (len(job.attempts) - 1)), error)
        self._waiting.insert(0, job)
        log.info("job %s '%s': retrying after a failed attempt on %s: %s", job.id, job.label, server.id, error.message)
