"""Running a project without the GUI: open it, set values, run every flow, save the outputs.

Used by ``ryven-comfy run`` and by ryvencore scripts. The flow runner is the
same as in the editor; its callbacks are queued and drained on the calling
thread, which therefore owns the flows.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ryvencore import Data, Flow, Node, Session

from comfy_backend import Health, JobSnapshot, Orchestrator, WorkflowError

from .context import AppContext, current_context, set_context
from .loops import find_loop, refuse_loop
from .project_format import is_orchestrator_file, load_orchestrator_session
from .project_ryven import load_ryven_project
from .run_state import RunStatus
from .runner import FlowRun, upstream_nodes
from .saving import save_values
from .threads import QueueDispatcher
from .utility_nodes import SaveOutputsNode
from .values import outputs_value
from .workflow_node import WorkflowNode
from .workflow_spec import slug


def open_project(path: str | Path, *, trust_pickles: bool = False) -> tuple[Session, list[Flow]]:
    """A headless session from a ``.orchestrator.json`` (pickle-free) or a Ryven project.

    A Ryven project holding pickled node state (which can run code when unpickled) is
    refused with UntrustedProject unless ``trust_pickles``; nothing is unpickled before.
    """
    if is_orchestrator_file(path):
        return load_orchestrator_session(path)
    return load_ryven_project(path, trust_pickles=trust_pickles)


def _nodes(flows: list[Flow]) -> list[Node]:
    return [n for f in flows for n in f.nodes]


def node_names(flows: list[Flow]) -> dict[str, Node]:
    """Unique display names: the title, with ``#2``, ``#3``... for repeated titles."""
    names: dict[str, Node] = {}
    counts: dict[str, int] = {}
    for n in _nodes(flows):
        counts[n.title] = counts.get(n.title, 0) + 1
        names[n.title if counts[n.title] == 1 else f"{n.title}#{counts[n.title]}"] = n
    return names


def apply_assignment(flows: list[Flow], expr: str) -> None:
    """``NODE.PARAM=VALUE``: NODE is a node title (``Title#2`` for repeats), PARAM a parameter or input label."""
    if "=" not in expr:
        raise WorkflowError(f"--set {expr!r}: expected NODE.PARAM=VALUE")
    lhs, raw = expr.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    names = {k.lower(): v for k, v in node_names(flows).items()}
    for i in [i for i, c in enumerate(lhs) if c == "."]:
        node = names.get(lhs[:i].strip().lower())
        if node is None:
            continue
        key = lhs[i + 1:].strip()
        if isinstance(node, WorkflowNode):
            p = node.spec.param(key)
            if p is None:
                raise WorkflowError(f"--set {expr!r}: node {node.title!r} has no parameter {key!r} "
                                    f"(parameters: {', '.join(x.label for x in node.spec.params) or 'none'})")
            node.set_value(p.id, value)
            return
        for inp in node.inputs:
            if inp.label_str.lower() == key.lower():
                inp.default = Data(value)
                return
        raise WorkflowError(f"--set {expr!r}: node {node.title!r} has no input {key!r}")
    raise WorkflowError(f"--set {expr!r}: no node named like that "
                        f"(nodes: {', '.join(node_names(flows)) or 'none'})")


def wait_node_definitions(orch: Orchestrator, timeout: float = 60.0) -> list[str]:
    """Wait until every usable server's node definitions are in the core's cache; their ids."""
    usable = [s.id for s in orch.servers() if s.enabled and s.health in (Health.ONLINE, Health.DEGRADED)]
    waits = [orch.fetch_node_definitions(sid) for sid in usable]
    return [fut.result(timeout)[0] for fut in waits]


def check_node_values(orch: Orchestrator, flows: list[Flow], timeout: float = 60.0) -> None:
    """Check every workflow node's own values with the core, as a run would, before any job.

    Raises WorkflowError (one line: node, parameter, why) before any job is submitted.
    Values arriving from connected upstream nodes are checked when the node starts.
    """
    ready = wait_node_definitions(orch, timeout)
    for name, node in node_names(flows).items():
        if not isinstance(node, WorkflowNode):
            continue
        pinned = node.target.server
        if pinned is not None and pinned not in ready:
            continue  # the pinned server is not usable: the run reports that
        try:
            orch.check(node.run_request(own_only=True))
        except WorkflowError as exc:
            raise WorkflowError(f"{name}: {exc}") from None


def run_flows(orch: Orchestrator, flows: list[Flow], *, on_tick: Callable[[list[JobSnapshot]], None] | None = None,
              timeout: float | None = None, out_dir: Path | None = None) -> list[FlowRun]:
    """Run every flow (branches in parallel) and wait on this thread until all have finished.

    Save nodes with a relative folder write inside ``out_dir``. Own values outside the bounds
    of a usable server's node definitions raise WorkflowError before any job is submitted.
    """
    for flow in flows:  # nodes feeding each other would wait for each other forever
        refuse_loop(find_loop(flow.nodes, upstream_nodes), lambda n: str(n.title), f"flow {flow.title!r}")
    disp = QueueDispatcher()
    check_node_values(orch, flows)  # a value out of a server's bounds: WorkflowError before any job
    ctx = AppContext(orch, disp.post, owns_backend=False, output_root=out_dir)
    previous = current_context(create=False)
    set_context(ctx)
    try:
        runs = [ctx.runner.run_flow(f) for f in flows]
        deadline = None if timeout is None else time.monotonic() + timeout
        while not all(r.finished for r in runs):
            disp.drain(0.1)
            if on_tick:
                on_tick(list(ctx.runner.snapshots.values()))
            if deadline is not None and time.monotonic() > deadline:
                raise WorkflowError(f"the flow did not finish within {timeout:.0f}s")
        if on_tick:
            on_tick(list(ctx.runner.snapshots.values()))
        return runs
    finally:
        ctx.close()
        set_context(previous)


def report(orch: Orchestrator, flows: list[Flow], out_dir: Path | None,
           timeout: float = 600.0) -> list[dict[str, Any]]:
    """One row per workflow / Save node: title, status, server, output paths (saved into ``out_dir``)."""
    rows = []
    for name, node in node_names(flows).items():
        if isinstance(node, WorkflowNode):
            run = node.run
            paths: list[str] = []
            if out_dir is not None and run.status is RunStatus.DONE:
                values = [outputs_value(refs, "image") for refs in run.outputs.values()]
                paths = save_values(orch, values, out_dir / slug(name)).result(timeout)
            rows.append({"title": name, "status": run.status.value, "server": run.server,
                         "outputs": paths, "seconds": run.seconds,
                         "error": run.message if run.status.unsuccessful else None})
        elif isinstance(node, SaveOutputsNode):
            rows.append({"title": name, "status": node.status.value, "server": None, "outputs": list(node.saved),
                         "seconds": None, "error": node.message if node.status.unsuccessful else None})
    return rows
