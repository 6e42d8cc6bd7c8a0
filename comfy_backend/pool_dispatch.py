"""ServerPool's dispatch: the loop that hands waiting jobs to servers as the policy says.

A pass runs whenever something changes (a job arrives or ends, a server's health or queue
changes) and at least every half second; a job no server can run fails, at once when no
server ever could, else after the queue timeout.
"""
from __future__ import annotations

import logging
import time

from .aio import wait_event
from .errors import JobError, NoServerAvailable, WorkflowError
from .jobs import Job
from .models import JobState
from .pool_attempts import PoolAttempts
from .scheduler import ServerLoad, missing_capabilities
from .server import ServerHandle

# Every part of the pool logs under one name, the one users know from its log lines.
log = logging.getLogger("comfy_backend.pool")

LOOKAHEAD = 64            # waiting jobs considered per dispatch pass


class PoolDispatch(PoolAttempts):
    """The dispatch loop and its passes: who may run a job, who runs it, who gives up."""

    async def _dispatch_loop(self) -> None:
        while not self._closed:
            await wait_event(self._wake, 0.5)
            self._wake.clear()
            try:
                self._dispatch_pass()
            except Exception:
                log.exception("dispatch pass failed")

    def _eligible(self, job: Job, server: ServerHandle) -> tuple[bool, str] | None:
        """None if the server can run the job now, else (transient?, why not)."""
        t = job.spec.target
        if t.server and server.id != t.server:
            return False, "not the pinned server"
        if not server.config.enabled:
            return False, "disabled"
        if t.tags and not set(t.tags) <= set(server.config.tags):
            return False, "lacks tags " + ", ".join(sorted(set(t.tags) - set(server.config.tags)))
        if not server.usable:
            return True, f"{server.health.value}" + (f" ({server.last_error})" if server.last_error else "")
        info = server.node_defs
        if info is None or not server.info_ready:
            return True, "node list not loaded yet"
        cached = job.capability.get(server.id)
        if cached is None or cached[0] != server.info_version:
            skip = {(u.node_id, u.input) for u in job.spec.uploads}
            try:
                prompt = job.prompt_for(server.id, server.info_version, info)
            except WorkflowError as exc:
                cached = (server.info_version, f"cannot convert the workflow for it: {exc}")
            else:
                missing = missing_capabilities(prompt, info, server.models, skip)
                cached = (server.info_version, "; ".join(missing[:3]) if missing else None)
            job.capability[server.id] = cached
        return None if cached[1] is None else (False, cached[1])

    def _dispatch_pass(self) -> None:
        if not self._waiting:
            return
        now = time.monotonic()
        loads: dict[str, float] = {}
        free: dict[str, int] = {}
        for s in self.servers.values():
            loads[s.id] = self._backlog(s)
            free[s.id] = s.free_slots
        usable = [s.id for s in self.servers.values() if s.usable]
        stuck = self._anyone_stuck(now)  # a job past its queue timeout must be looked at to fail it
        for job in list(self._waiting[:LOOKAHEAD]):
            if not stuck and not any(free[sid] > 0 for sid in usable):
                break  # every slot is taken: no job can start in this pass
            if job.not_before > now:
                continue
            reasons: dict[str, tuple[bool, str]] = {}
            cands: list[ServerLoad] = []
            for s in self.servers.values():
                why = self._eligible(job, s)
                if why:
                    reasons[s.id] = why
                    continue
                est = self.estimator.estimate(s.id, job.key)
                cands.append(ServerLoad(s.id, s.order, free[s.id], len(s.in_flight), s.queue_running + s.queue_pending,
                                        loads[s.id], est, s.last_used))
            if not cands:
                self._maybe_give_up(job, reasons, now)
                continue
            fresh = [c for c in cands if c.id not in job.failed_on] or cands
            choice = self.policy.choose(fresh)
            if choice is None:
                continue
            loads[choice.id] += choice.estimate
            if free[choice.id] <= 0:
                continue  # reserved: waits for its best server
            free[choice.id] -= 1
            self._waiting.remove(job)
            self._start_attempt(job, self.servers[choice.id])

    def _anyone_stuck(self, now: float) -> bool:
        """Is a waiting job past its queue timeout (so the pass must run to fail it)?"""
        return any(now - j.waiting_since > self.queue_timeout for j in self._waiting[:LOOKAHEAD])

    def _backlog(self, s: ServerHandle) -> float:
        """Expected seconds until the work already on this server is done."""
        total = 0.0
        for jid in s.in_flight:
            job = self.jobs.get(jid)
            if job is None:
                continue
            est = self.estimator.estimate(s.id, job.key)
            total += est * (1.0 - job.progress.fraction) if job.state is JobState.RUNNING else est
        return total + s.foreign * self.estimator.typical(s.id)

    def _maybe_give_up(self, job: Job, reasons: dict[str, tuple[bool, str]], now: float) -> None:
        detail = "; ".join(f"{sid}: {why}" for sid, (_, why) in reasons.items())
        job.unschedulable_reason = detail
        permanent = not any(transient for transient, _ in reasons.values())
        if permanent and not job.capabilities_refreshed:
            # Models or nodes may have been added since we read the servers' lists: look again once.
            job.capabilities_refreshed = True
            for server in self.servers.values():
                self._spawn(server.refresh_capabilities())
            return
        if permanent or now - job.waiting_since > self.queue_timeout:
            self._waiting.remove(job)
            msg = f"no server can run '{job.label}' ({job.spec.target.describe()}): {detail}"
            job.finish(JobState.FAILED, JobError.from_exception(NoServerAvailable(msg)))
            self._job_changed(job, "state")
