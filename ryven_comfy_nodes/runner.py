"""The flow runner: runs workflow nodes as backend jobs in dependency order.

Everything here runs on the flow's thread; backend futures come back through
``ctx.post``. A node starts when every upstream workflow node it needs is
done, so independent branches are submitted together and the scheduler spreads
them over the servers. An upstream image is fetched from the server that made
it and handed to the job as an upload, which the pool sends to whichever
server runs the downstream job. A failed node blocks its downstream nodes with
a status naming it; running the node again is the retry.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ryvencore import Node

from comfy_backend.errors import ComfyBackendError
from comfy_backend.events import JobEvent
from comfy_backend.jobs import Target, Upload
from comfy_backend.models import JobSnapshot, JobState
from comfy_backend.workflow.params import ParameterError
from comfy_backend.workflow.patch import RANDOM_SEED_MAX

from .context import fetch_image_source
from .saving import save_values_async
from .utility_nodes import SaveOutputsNode, UtilityNode
from .values import is_image_source
from .workflow_node import WorkflowNode
from .workflow_spec import build_prompt, check_values, prompt_for_outputs

if TYPE_CHECKING:
    from .context import AppContext

log = logging.getLogger(__name__)

FINAL = ("done", "failed", "blocked", "cancelled", "saved")
_STATE_STATUS = {JobState.QUEUED: "queued", JobState.SUBMITTED: "submitted", JobState.RUNNING: "running"}


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
        self._callbacks: list[Callable[[FlowRun], None]] = []

    def on_finished(self, cb: Callable[[FlowRun], None]) -> None:
        if self.finished:
            cb(self)
        else:
            self._callbacks.append(cb)

    @property
    def ok(self) -> bool:
        return self.finished and all(status_of(n) in ("done", "saved") for n in self.nodes)

    def _finish(self) -> None:
        self.finished = True
        for cb in self._callbacks:
            cb(self)
        self._callbacks.clear()


def status_of(node: Node) -> str:
    if isinstance(node, WorkflowNode):
        return node.run.status
    if isinstance(node, SaveOutputsNode):
        return node.status
    return "done"


class FlowRunner:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.runs: list[FlowRun] = []
        self._jobs: dict[str, WorkflowNode] = {}
        self._handles: dict[WorkflowNode, Any] = {}
        self.snapshots: dict[str, JobSnapshot] = {}  # latest snapshot of every job started (for progress displays)
        self._closed = False

    # -- starting runs --------------------------------------------------------------------
    def run_flow(self, flow: Any) -> FlowRun:
        """Run every workflow node and Save node of a flow (upstream results are made fresh)."""
        targets = [n for n in flow.nodes if isinstance(n, (WorkflowNode, SaveOutputsNode))]
        return self.run_nodes(targets, rerun_done=True)

    def run_nodes(self, targets: Iterable[Node], *, rerun_done: bool = False,
                  preview: dict[Node, list[str]] | None = None) -> FlowRun:
        """Run ``targets`` and whatever upstream they need that has no result yet (all of it with ``rerun_done``)."""
        targets = list(targets)
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
                if rerun_done or status_of(u) not in ("done", "saved") or _busy(u):
                    stack.append(u)
        for v in reversed(value_nodes):
            if isinstance(v, UtilityNode):
                v.prepare_run()
        for n in needed:
            if not _busy(n):
                _reset(n)
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
        handle = self._handles.get(node)
        if handle is not None:
            handle.cancel()

    def shutdown(self) -> None:
        self._closed = True
        for h in list(self._handles.values()):
            try:
                h.cancel()
            except Exception as exc:
                log.debug("cancel at shutdown: %s", exc)

    # -- progress ---------------------------------------------------------------------------
    def _advance(self, run: FlowRun) -> None:
        if run.finished:
            return
        changed = True
        while changed:  # blocking one node can block the next: repeat until nothing changes
            changed = False
            for n in run.nodes:
                if n in run.started or _busy(n):
                    continue
                ups = run.deps.get(n, set())
                failed = [u for u in ups if status_of(u) in ("failed", "blocked", "cancelled")]
                if failed:
                    run.started.add(n)
                    self._block(n, failed[0])
                    changed = True
                elif all(status_of(u) in ("done", "saved") for u in ups):
                    run.started.add(n)
                    self._start(n, run)
                    changed = True
            if run.finished:
                return
        if run in self.runs and all(status_of(n) in FINAL for n in run.nodes):
            self.runs.remove(run)
            run._finish()

    def _node_finished(self) -> None:
        for run in list(self.runs):
            self._advance(run)

    def _block(self, node: Node, upstream: Node) -> None:
        title = upstream.title
        msg = f"not run: upstream '{title}' {status_of(upstream)}"
        if isinstance(node, WorkflowNode):
            node.set_run(status="blocked", message=msg, server=None)
        elif isinstance(node, SaveOutputsNode):
            node.set_status("blocked", msg)

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
        node.set_run(status="failed", message=message)
        node.set_output_val(node.status_output_index, _data(node.status_value()))
        self._node_finished()

    # -- workflow nodes -----------------------------------------------------------------------
    def _start_workflow(self, node: WorkflowNode, preview_outputs: list[str] | None) -> None:
        info = self.ctx.object_info(node.target.server)
        if info:
            node.refine(info)  # bounds and choices of the server's node definitions
        for pid in node.randomize:
            p = node.spec.param(pid)
            if p is not None and not node.connected(node.param_input_index(pid)):
                c = p.constraints
                low = int(c.min) if c.min is not None else 0
                high = int(min(c.max, RANDOM_SEED_MAX)) if c.max is not None else RANDOM_SEED_MAX
                node.set_value(pid, random.randint(low, high))
        values = node.current_values()
        try:
            check_values(node.spec, values)
        except ParameterError as exc:
            raise ParameterError(f"{exc} (not submitted)") from None
        prompt = build_prompt(node.spec, values)
        if preview_outputs:
            ids = [o.node_id for o in node.spec.outputs if o.id in preview_outputs]
            prompt = prompt_for_outputs(prompt, ids)
        sources = []
        for spec in node.spec.image_inputs:
            if spec.node_id not in prompt:
                continue
            value = node.image_source(spec.id)
            if value is None:
                continue  # unconnected: the workflow's own file on the server is used
            if not is_image_source(value):
                raise ComfyBackendError(f"input '{spec.label}' did not get an image ({type(value).__name__})")
            sources.append((spec, value))
        node.set_run(status="uploading" if sources else "starting", message="", server=None, job_id=None)
        uploads: list[Upload | None] = [None] * len(sources)
        remaining = [len(sources)]

        def got(i: int, spec: Any, data: bytes | None, err: str | None, name: str) -> None:
            if node.run.status != "uploading":
                return
            if data is None:
                self._fail(node, f"could not get the image for '{spec.label}': {err}")
                return
            uploads[i] = Upload(node_id=spec.node_id, input=spec.input_name, data=data, filename=name)
            remaining[0] -= 1
            if remaining[0] == 0:
                self._submit(node, prompt, [u for u in uploads if u is not None])

        for i, (spec, value) in enumerate(sources):
            fetch_image_source(self.ctx, value, lambda d, e, n, i=i, s=spec: got(i, s, d, e, n))
        if not sources:
            self._submit(node, prompt, [])

    def _submit(self, node: WorkflowNode, prompt: dict[str, Any], uploads: list[Upload]) -> None:
        target = Target(server=node.target.server or None, tags=tuple(node.target.tags))
        handle = self.ctx.orch.submit(prompt, label=node.title, target=target, uploads=uploads)
        self._jobs[handle.id] = node
        self._handles[node] = handle
        node.set_run(status="queued", job_id=handle.id)

        def done(fut: Any) -> None:
            if not self._closed:
                self.ctx.post(lambda: self._job_done(node, handle.id, fut.result()))

        handle.future.add_done_callback(done)

    def on_job_event(self, event: JobEvent) -> None:
        node = self._jobs.get(event.job.id)
        if node is None or node.run.job_id != event.job.id or event.job.state.final:
            return
        snap = event.job
        self.snapshots[snap.id] = snap
        node.set_run(status=_STATE_STATUS.get(snap.state, node.run.status), server=snap.server,
                     progress=snap.progress)

    def _job_done(self, node: WorkflowNode, job_id: str, snap: JobSnapshot) -> None:
        self._jobs.pop(job_id, None)
        self.snapshots[job_id] = snap
        if self._handles.get(node) is not None and self._handles[node].id == job_id:
            del self._handles[node]
        if node.run.job_id != job_id:
            return  # an older job of a node that was run again
        if snap.state is JobState.SUCCEEDED:
            node.set_run(status="done", server=snap.server, progress=snap.progress, seconds=snap.seconds,
                         message=f"{snap.seconds:.1f}s" if snap.seconds is not None else "")
            node.publish_outputs(list(snap.outputs))
            node.set_run()  # show the outputs
        else:
            msg = (snap.error or {}).get("message") or snap.state.value
            node.set_run(status="failed" if snap.state is JobState.FAILED else "cancelled",
                         server=snap.server, message=msg)
            node.set_output_val(node.status_output_index, _data(node.status_value()))
        self._node_finished()

    # -- save nodes -----------------------------------------------------------------------------
    def _start_save(self, node: SaveOutputsNode) -> None:
        files = node.input(0)
        folder = node.input(1)
        value = None if files is None else files.payload
        target = self.ctx.output_root / Path(str(folder.payload if folder is not None else "") or "saved").expanduser()
        node.set_status("saving")

        def done(paths: list[str] | None, err: str | None) -> None:
            if paths is None:
                node.set_status("failed", err or "")
            else:
                node.set_status("saved", f"{len(paths)} file(s) in {target}", saved=paths)
            self._node_finished()

        save_values_async(self.ctx, [value], target, done)


def _busy(node: Node) -> bool:
    if isinstance(node, WorkflowNode):
        return node.run.busy
    if isinstance(node, SaveOutputsNode):
        return node.status == "saving"
    return False


def _reset(node: Node) -> None:
    if isinstance(node, WorkflowNode):
        node.set_run(status="pending", message="", server=None)
    elif isinstance(node, SaveOutputsNode):
        node.set_status("pending")


def _data(v: Any) -> Any:
    from ryvencore import Data

    return Data(v)
