"""The flow runner: runs workflow nodes as backend jobs in dependency order.

Everything here runs on the flow's thread; backend futures come back through
``post`` (see ``threads``). A node starts when every upstream workflow node it needs is
done, so independent branches are submitted together and the scheduler spreads
them over the servers. An upstream image is fetched from the server that made
it and handed to the job as an upload, which the pool sends to whichever
server runs the downstream job. A failed node blocks its downstream nodes with
a status naming it; running the node again is the retry.

Starting a job costs a millisecond or two (values checked, prompt prepared): a big run starts
its nodes in slices of ``START_BUDGET_S`` per turn of the flow's thread, the rest posted to the
next turns, so the editor keeps drawing while a hundred jobs are submitted.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ryvencore import Node

from comfy_backend import (
    ComfyBackendError,
    JobEvent,
    JobHandle,
    JobSnapshot,
    JobState,
    Orchestrator,
    ParameterError,
    RunRequest,
    Upload,
)

from .fetching import OutputFiles, fetch_image_source
from .loops import find_loop, refuse_loop
from .run_state import JOB_STATE_STATUS, RunStatus
from .saving import save_values
from .threads import Post, when_done
from .utility_nodes import SaveOutputsNode, UtilityNode
from .values import is_image_source
from .workflow_node import WorkflowNode

log = logging.getLogger(__name__)

#: time spent starting jobs in one turn of the flow's thread before the rest is posted to the next
START_BUDGET_S = 0.008


def upstream_nodes(node: Node) -> list[Node]:
    """Nodes directly connected to ``node``'s inputs."""
    ups = []
    for inp in node.inputs:
        out = node.flow.connected_output(inp)
        if out is not None and out.node not in ups:
            ups.append(out.node)
    return ups


def job_nodes_upstream(node: Node) -> tuple[set[Node], list[Node]]:
    """(nearest job nodes upstream, value nodes passed on the way)."""
    jobs: set[Node] = set()
    values: list[Node] = []
    stack = upstream_nodes(node)
    seen: set[Node] = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if isinstance(n, (WorkflowNode, SaveOutputsNode)):
            jobs.add(n)
        else:
            values.append(n)
            stack.extend(upstream_nodes(n))
    return jobs, values


class FlowRun:
    """One press of Run / Run flow / Run preview: which nodes, their dependencies, their outcome."""

    def __init__(self, nodes: list[Node], deps: dict[Node, set[Node]], preview: dict[Node, list[str]]) -> None:
        self.nodes = nodes
        self.deps = deps
        self.preview = preview
        self.started: set[Node] = set()
        self.finished = False
        self.resuming = False  # the rest of its starts is posted for the next turn

    @property
    def ok(self) -> bool:
        return self.finished and all(status_of(n).ok for n in self.nodes)


def status_of(node: Node) -> RunStatus:
    """A node's run status (value nodes have nothing to run: always done)."""
    if isinstance(node, WorkflowNode):
        return node.run.status
    if isinstance(node, SaveOutputsNode):
        return node.status
    return RunStatus.DONE


class FlowRunner:
    """Starts and follows runs; every method runs on the flow's thread (backend results come via ``post``)."""

    def __init__(self, orch: Orchestrator, post: Post, files: OutputFiles, *, output_root: Path) -> None:
        self.orch = orch
        self.post = post
        self.files = files
        self.output_root = output_root  # relative folders of Save nodes are taken inside this one
        self.runs: list[FlowRun] = []
        self._jobs: dict[str, WorkflowNode] = {}
        self._handles: dict[WorkflowNode, JobHandle] = {}
        self._watched: set[WorkflowNode] = set()
        self.snapshots: dict[str, JobSnapshot] = {}  # latest snapshot of every job started (for progress displays)
        # job id -> the node that started it, for as long as the node lives (the jobs dock selects it)
        self.job_nodes: weakref.WeakValueDictionary[str, Node] = weakref.WeakValueDictionary()
        self._closed = False
        self.gate: Callable[[], None] | None = None  # raises WorkflowError while runs cannot start (first run)
        self.before_run: Callable[[], None] | None = None  # called as a run starts (the editor tunes the GC)

    # -- starting runs --------------------------------------------------------------------
    def run_flow(self, flow: Any) -> FlowRun:
        """Run every workflow node and Save node of a flow (upstream results are made fresh)."""
        targets = [n for n in flow.nodes if isinstance(n, (WorkflowNode, SaveOutputsNode))]
        return self.run_nodes(targets, rerun_done=True)

    def run_nodes(self, targets: Iterable[Node], *, rerun_done: bool = False,
                  preview: dict[Node, list[str]] | None = None) -> FlowRun:
        """Run ``targets`` and whatever upstream they need that has no result yet (all of it with ``rerun_done``).

        Raises WorkflowError, running nothing, when nodes upstream feed each other in a loop.
        """
        targets = list(targets)
        if self.gate is not None:
            self.gate()
        refuse_loop(find_loop(targets, upstream_nodes), lambda n: str(n.title))
        if self.before_run is not None:
            self.before_run()
        needed: list[Node] = []
        deps: dict[Node, set[Node]] = {}
        value_nodes: list[Node] = []
        stack = list(targets)
        while stack:
            n = stack.pop()
            if n in deps:
                continue
            ups, vals = job_nodes_upstream(n)
            deps[n] = ups
            value_nodes.extend(v for v in vals if v not in value_nodes)
            needed.append(n)
            for u in ups:
                if u in deps:
                    continue
                if rerun_done or not status_of(u).ok or status_of(u).busy:
                    stack.append(u)
        for v in reversed(value_nodes):
            if isinstance(v, UtilityNode):
                v.prepare_run()
        for n in needed:
            if not status_of(n).busy and isinstance(n, (WorkflowNode, SaveOutputsNode)):
                n.mark_pending()
        # keep only dependencies on nodes that take part (finished ones outside the run are satisfied)
        deps = {n: {u for u in ups if u in deps} for n, ups in deps.items()}
        run = FlowRun(needed, deps, preview or {})
        self.runs.append(run)
        self._advance(run)
        return run

    def run_preview(self, node: WorkflowNode, output_id: str) -> FlowRun:
        """Run only what one output of ``node`` needs (and its missing upstream)."""
        return self.run_nodes([node], preview={node: [output_id]})

    def cancel_node(self, node: WorkflowNode) -> None:
        """Cancel the node's job, if it has one in flight."""
        handle = self._handles.get(node)
        if handle is not None:
            handle.cancel()

    def shutdown(self) -> None:
        """Stop following runs and cancel the jobs in flight (the nodes may outlive this runner)."""
        self._closed = True
        for node in self._watched:
            node.removed.unsub(self.cancel_node)
        self._watched.clear()
        for h in list(self._handles.values()):
            try:
                h.cancel()
            except Exception as exc:
                log.debug("cancel at shutdown: %s", exc)

    # -- progress ---------------------------------------------------------------------------
    def _advance(self, run: FlowRun) -> None:
        if run.finished or self._closed:
            return
        deadline = time.perf_counter() + START_BUDGET_S
        starts = 0  # at least one per turn, whatever the budget
        changed = True
        while changed:  # blocking one node can block the next: repeat until nothing changes
            changed = False
            for n in run.nodes:
                if n in run.started or status_of(n).busy:
                    continue
                ups = run.deps.get(n, set())
                failed = [u for u in ups if status_of(u).unsuccessful]
                if failed:
                    run.started.add(n)
                    self._block(n, failed[0])
                    changed = True
                elif all(status_of(u).ok for u in ups):
                    if starts and time.perf_counter() > deadline:  # this turn's share is used: the rest next turn
                        self._resume_later(run)
                        return
                    starts += 1
                    run.started.add(n)
                    self._start(n, run)
                    changed = True
            if run.finished:
                return
        if run in self.runs and all(status_of(n).final for n in run.nodes):
            self.runs.remove(run)
            run.finished = True

    def _resume_later(self, run: FlowRun) -> None:
        """Start the rest of ``run``'s ready nodes on a later turn of the flow's thread (once)."""
        if run.resuming:
            return
        run.resuming = True

        def resume() -> None:
            run.resuming = False
            self._advance(run)

        self.post(resume)

    def _node_finished(self) -> None:
        for run in list(self.runs):
            self._advance(run)

    def _block(self, node: Node, upstream: Node) -> None:
        if isinstance(node, (WorkflowNode, SaveOutputsNode)):
            node.mark_blocked(f"not run: upstream '{upstream.title}' {status_of(upstream).value}")

    def _start(self, node: Node, run: FlowRun) -> None:
        if isinstance(node, SaveOutputsNode):
            self._start_save(node)
        elif isinstance(node, WorkflowNode):
            try:
                self._start_workflow(node, run.preview.get(node))
            except ComfyBackendError as exc:
                self._fail(node, str(exc))
            except Exception as exc:
                log.exception("starting %s failed", node.title)
                self._fail(node, f"{type(exc).__name__}: {exc}")

    def _fail(self, node: WorkflowNode, message: str) -> None:
        log.warning("node '%s' failed: %s", node.title, message)  # the log dock shows node failures
        node.mark_failed(message)
        self._node_finished()

    # -- workflow nodes -----------------------------------------------------------------------
    def _start_workflow(self, node: WorkflowNode, preview_outputs: list[str] | None) -> None:
        # The core builds the prompt: values checked against the servers' node definitions
        # (synchronously, before any image is fetched), random seeds drawn, pruned for preview.
        request = node.run_request(outputs=preview_outputs or ())
        sources: list[tuple[Any, Any]] = []
        wrong: str | None = None  # an input that got something else than an image (said after the values)
        for spec in node.spec.image_inputs:
            value = node.image_source(spec.id)
            if value is None:
                continue  # unconnected: the workflow's own file on the server is used
            if not is_image_source(value):
                wrong = wrong or f"input '{spec.label}' did not get an image ({type(value).__name__})"
                continue
            sources.append((spec, value))
        if not sources and wrong is None:
            # nothing to fetch first: submit checks the values as check() does (not twice)
            try:
                handle = self.orch.submit(request)
            except ParameterError as exc:
                raise ParameterError(f"{exc} (not submitted)") from None
            node.mark_starting(uploading=False)
            self._follow(node, handle)
            return
        try:
            self.orch.check(request)
        except ParameterError as exc:
            raise ParameterError(f"{exc} (not submitted)") from None
        if wrong is not None:
            raise ComfyBackendError(wrong)
        node.mark_starting(uploading=True)  # sources left: images to fetch and upload first
        uploads: list[Upload | None] = [None] * len(sources)
        remaining = [len(sources)]

        def got(i: int, spec: Any, data: bytes | None, err: str | None, name: str) -> None:
            if node.run.status is not RunStatus.UPLOADING:
                return
            if data is None:
                self._fail(node, f"could not get the image for '{spec.label}': {err}")
                return
            uploads[i] = Upload(node_id=spec.node_id, input=spec.input_name, data=data, filename=name)
            remaining[0] -= 1
            if remaining[0] == 0:
                self._submit_or_fail(node, dataclasses.replace(request, uploads=tuple(u for u in uploads if u)))

        for i, (spec, value) in enumerate(sources):
            fetch_image_source(self.files, value, lambda d, e, n, i=i, s=spec: got(i, s, d, e, n))

    def _submit_or_fail(self, node: WorkflowNode, request: RunRequest) -> None:
        try:
            self._submit(node, request)
        except ParameterError as exc:
            self._fail(node, f"{exc} (not submitted)")
        except ComfyBackendError as exc:
            self._fail(node, str(exc))

    def _submit(self, node: WorkflowNode, request: RunRequest) -> None:
        self._follow(node, self.orch.submit(request))

    def _follow(self, node: WorkflowNode, handle: JobHandle) -> None:
        """The node's job was submitted: show it queued and follow it to its end."""
        node.take_seeds(handle.seeds)  # the user sees the seed this run used
        self._jobs[handle.id] = node
        self.job_nodes[handle.id] = node
        self._handles[node] = handle
        node.mark_queued(handle.id)
        if node not in self._watched:  # a node removed from its flow gets its job cancelled
            self._watched.add(node)
            node.removed.sub(self.cancel_node)
        when_done(handle.future, self.post, lambda snap: self._job_done(node, handle.id, snap),
                  lambda exc: self._job_lost(node, handle.id, exc))

    def on_job_event(self, event: JobEvent) -> None:
        """A job moved or reported progress (on the flow's thread)."""
        node = self._jobs.get(event.job.id)
        if node is None or node.run.job_id != event.job.id or event.job.state.final or not node.run.busy:
            return  # a late event of a job that already ended is not news
        snap = event.job
        self.snapshots[snap.id] = snap
        node.mark_progress(JOB_STATE_STATUS.get(snap.state.value, node.run.status), snap.server, snap.progress)

    def _forget(self, node: WorkflowNode, job_id: str) -> bool:
        """Drop a finished job's bookkeeping; False if the node has run again since (an older job)."""
        self._jobs.pop(job_id, None)
        handle = self._handles.get(node)
        if handle is not None and handle.id == job_id:
            del self._handles[node]
        return not self._closed and node.run.job_id == job_id

    def _job_done(self, node: WorkflowNode, job_id: str, snap: JobSnapshot) -> None:
        self.snapshots[job_id] = snap
        if not self._forget(node, job_id):
            return
        if snap.state is JobState.SUCCEEDED:
            node.mark_done(snap.server, snap.progress, snap.seconds, list(snap.outputs))
        else:
            message = _error_message(snap)
            log.log(logging.INFO if snap.state is JobState.CANCELLED else logging.WARNING,
                    "node '%s' %s on %s after %d attempt(s): %s", node.title, snap.state.value, snap.server or "-",
                    len(snap.attempts), message)
            node.mark_failed(message, snap.server, cancelled=snap.state is JobState.CANCELLED)
        self._node_finished()

    def _job_lost(self, node: WorkflowNode, job_id: str, exc: BaseException) -> None:
        """The job's future failed instead of giving a final snapshot (the backend closed under it)."""
        if not self._forget(node, job_id):
            return
        node.mark_failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        self._node_finished()

    # -- save nodes -----------------------------------------------------------------------------
    def _start_save(self, node: SaveOutputsNode) -> None:
        files = node.input(0)
        folder = node.input(1)
        value = None if files is None else files.payload
        target = self.output_root / Path(str(folder.payload if folder is not None else "") or "saved").expanduser()
        node.mark_saving()

        def saved(paths: list[str]) -> None:
            node.mark_saved(paths, f"{len(paths)} file(s) in {target}")
            self._node_finished()

        def failed(exc: BaseException) -> None:
            node.mark_failed(str(exc) or type(exc).__name__)
            self._node_finished()

        try:
            saving = save_values(self.orch, [value], target)
        except OSError as exc:  # an unreadable local file
            failed(exc)
            return
        when_done(saving, self.post, saved, failed)


def _error_message(snap: JobSnapshot) -> str:
    """Why a job did not succeed: its error's message, else its state."""
    return (snap.error.message if snap.error is not None else "") or snap.state.value
