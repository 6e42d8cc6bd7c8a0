"""The Orchestrator's jobs: check and submit run requests, cancel them, fetch and save outputs."""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import time
from collections.abc import Iterable
from pathlib import Path

from .errors import ComfyBackendError
from .face_reads import OrchestratorReads
from .jobs import JobSpec, new_job_id
from .models import JobSnapshot, JobState, OutputRef, Progress
from .outputs import download_output, save_output
from .requests import RunRequest
from .run_spec import spec_for


class JobHandle:
    """A submitted job as seen from the caller's thread.

    ``seeds`` holds the random seeds drawn for it (field key → seed), so a front can show
    the seed a run used.
    """

    def __init__(self, orch: OrchestratorJobs, job_id: str, future: cf.Future[JobSnapshot],
                 seeds: dict[str, int] | None = None) -> None:
        self._orch = orch
        self.id = job_id
        self.future = future
        self.seeds = dict(seeds or {})

    def result(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the job ends (succeeded, failed or cancelled) and return its final snapshot."""
        return self.future.result(timeout)

    def done(self) -> bool:
        """Has the job ended?"""
        return self.future.done()

    def cancel(self) -> bool:
        """Ask for the job to be cancelled (see :meth:`Orchestrator.cancel`)."""
        return self._orch.cancel(self.id)

    def snapshot(self) -> JobSnapshot | None:
        """The job's latest snapshot, without waiting."""
        return self._orch.job(self.id)


class OrchestratorJobs(OrchestratorReads):
    """Run requests in, job handles and outputs out."""

    # -- jobs ---------------------------------------------------------------------
    def submit(self, request: RunRequest) -> JobHandle:
        """Check ``request`` and queue it; returns at once with a handle.

        The values are checked against the cached node definitions (the pinned server's,
        else those of the usable servers that may run it) before anything is queued:
        ParameterError / WorkflowError are raised here. Each server that runs the job
        gets the prompt prepared with its own node definitions.
        """
        loop = self._running_loop()
        spec, seeds = self._spec(request)
        job_id, created = new_job_id(), time.time()
        result: cf.Future[JobSnapshot] = cf.Future()
        assert spec.workflow_key is not None
        queued = JobSnapshot(id=job_id, label=spec.label or job_id, state=JobState.QUEUED, server=None, prompt_id=None,
                             progress=Progress(), attempts=(), outputs=(), error=None, created=created, finished=None,
                             workflow_key=spec.workflow_key)
        with self._lock:
            self._job_snaps[job_id] = queued

        def enqueue() -> None:
            try:
                job = self._started_pool.submit(spec, job_id, created)
            except ComfyBackendError as exc:
                with self._lock:
                    self._job_snaps.pop(job_id, None)
                result.set_exception(exc)
                return
            job.future.add_done_callback(lambda f: result.set_result(f.result()))

        loop.call_soon_threadsafe(enqueue)
        return JobHandle(self, job_id, result, seeds)

    def check(self, request: RunRequest) -> None:
        """Check ``request`` as :meth:`submit` does, without queueing anything.

        Raises ParameterError / WorkflowError (e.g. ``parameter 'Blur radius': 40 is above
        the maximum 31``) when no server that may run it accepts its values.
        """
        self._spec(request)

    def _spec(self, request: RunRequest) -> tuple[JobSpec, dict[str, int]]:
        """The job for ``request`` checked against the cached node definitions, and its drawn seeds."""
        with self._lock:
            snaps = list(self._server_snaps.values())
            defs = {sid: info for sid, (_, info) in self._defs.items()}
        return spec_for(request, snaps, defs)

    def cancel(self, job_id: str) -> bool:
        """Ask for a job to be cancelled (withdrawn from the queue, or interrupted on its server).

        Returns at once: False when the job is unknown, has already ended, or the backend stopped.
        """
        snap = self.job(job_id)
        if snap is None or snap.state.final:
            return False
        try:
            self._running_loop().call_soon_threadsafe(self._started_pool.cancel, job_id)
        except (ComfyBackendError, RuntimeError):
            return False  # the backend stopped: nothing left to cancel
        return True

    # -- outputs ------------------------------------------------------------------
    def fetch_output(self, ref: OutputRef) -> cf.Future[bytes]:
        """The bytes of one output file."""
        return self._run_coroutine(self._started_pool.fetch_output(ref))

    def save_outputs(self, refs: Iterable[OutputRef], out_dir: str | Path) -> cf.Future[list[Path]]:
        """Download outputs into ``out_dir`` (atomically, never outside it); the paths, in order."""
        folder = Path(out_dir)
        wanted = list(refs)

        async def save_one(ref: OutputRef) -> Path:
            server = self._started_pool.servers.get(ref.server)
            held = self._started_pool.held_output(ref)  # in hand: never waits on a server that died since
            if held is None and ref.type != "websocket" and server is not None:
                # Streamed to disk within the size limit: memory stays flat whatever the server sends.
                client = server.client
                return await download_output(
                    lambda sink: client.view_to(ref.filename, ref.subfolder, ref.type, sink), ref, folder)
            data = await self._started_pool.fetch_output(ref)
            # Files are written off the loop so other jobs keep moving meanwhile.
            return await asyncio.get_running_loop().run_in_executor(None, save_output, data, ref, folder)

        async def save_all() -> list[Path]:
            return list(await asyncio.gather(*(save_one(r) for r in wanted)))

        return self._run_coroutine(save_all())
