"""The example projects' node rectangles in a real Ryven window (offscreen, no server), as loaded
and after the nodes were given the size of a run's results: run in its own process by
test_example_layout (Ryven's main window is one per process), and by hand to look at them.

    python -m tests.ryven.layout_app PROJECT... [--size 1600x1000] [--screenshots DIR] [--docks]

Nothing is run: the results are simulated through the nodes' own state methods (the ones the flow
runner calls), so every node grows as after a real run:

- ``done``: every workflow node done with one file per output and a "retried on … after …" line,
  its Preview nodes showing the files, Save outputs saved with a long folder name;
- ``failed``: every workflow node failed with a long error (cut in the node, Copy error shown),
  Save outputs blocked.

Prints one JSON line ``{"scene": [x, y, w, h], "projects": {NAME: {STATE: [[title, x, y, w, h], …]}}}``
(scene rectangles of the node items); with ``--docks`` also ``"docks": [[raised dock, its height], …]``
as the servers, charts and jobs tabs are raised in turn; exit 0.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

STATES = ("loaded", "done", "failed")
LONG_ERROR = ("execution failed on local2: node 7 (KSampler): Allocation on device 0 would exceed allowed "
              "memory (out of memory). Currently allocated: 7.61 GiB, requested 1.50 GiB, free 0.21 GiB; "
              "the full traceback is in the server's log")
SAVED_MESSAGE = "1 file(s) in /home/a-rather-long-user-name/ryven-comfy-outputs/saved"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("projects", nargs="+")
    ap.add_argument("--size", default="1600x1000")
    ap.add_argument("--screenshots", help="a folder: one PNG per project and state")
    ap.add_argument("--docks", action="store_true", help="also the bottom tabs' heights as they are raised")
    args = ap.parse_args()
    os.environ["QT_API"] = "pyside6"
    os.environ.setdefault("RYVEN_COMFY_EDITOR_SETTINGS", "none")
    from qtpy.QtWidgets import QApplication

    from comfy_backend import ServersConfig
    from ryven_comfy_nodes import gui_editor, gui_layout
    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.gui_screenshot import parse_size
    from ryven_comfy_nodes.gui_webui import prepare_app
    from ryven_comfy_nodes.launcher import create_editor

    prepare_app()
    app = QApplication(sys.argv[:1])
    editor = create_editor(ServersConfig(servers=[]), None, app=app)
    editor.resize(*parse_size(args.size))
    editor.show()

    def pump(seconds: float = 0.5) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    pump()
    flow = editor.get_current_flow()
    view = gui_layout.flow_view(editor, flow)
    scene = view.sceneRect()
    out: dict[str, Any] = {"scene": [scene.x(), scene.y(), scene.width(), scene.height()], "projects": {}}
    ctx = current_context(create=False)
    for project in map(Path, args.projects):
        for n in list(flow.nodes):
            flow.remove_node(n)
        pump(0.2)
        gui_editor.import_orchestrator(editor, project)
        found: dict[str, list[list[Any]]] = {}
        for state in STATES:
            if state != "loaded":
                simulate(flow, state, ctx)
            pump(1.0)  # deferred reshapes (thumbnails, status lines) happen on later turns
            found[state] = [[n.title, *rect(n)] for n in flow.nodes]
            if args.screenshots:
                gui_layout.fit_flow(editor)
                pump(0.3)
                editor.grab().save(str(Path(args.screenshots) / f"{project.name.split('.')[0]}-{state}.png"))
        out["projects"][project.name] = found
    if args.docks:
        from qtpy.QtWidgets import QDockWidget

        docks = {d.objectName(): d for d in editor.findChildren(QDockWidget)}
        out["docks"] = []
        for name in ("servers", "charts", "jobs", "charts", "servers"):
            dock = docks[f"ryven_comfy_{name}_dock"]
            dock.raise_()
            pump(0.5)
            out["docks"].append([name, dock.height()])
    print(json.dumps(out), flush=True)
    editor._ryven_comfy["close_guard"].ask = False
    if ctx is not None:
        ctx.dispatcher.stop()
        ctx.close()
    os._exit(0)  # Ryven's and QtWebEngine's teardown at exit is not what this measures


def rect(node: Any) -> list[float]:
    r = node.gui.item.sceneBoundingRect()
    return [r.x(), r.y(), r.width(), r.height()]


def simulate(flow: Any, state: str, ctx: Any) -> None:
    """Give every node the look of a finished run (``done``) or a failed one (``failed``)."""
    from comfy_backend import Attempt, AttemptOutcome, ErrorKind, JobError, OutputRef, Progress
    from ryven_comfy_nodes.utility_nodes import SaveOutputsNode
    from ryven_comfy_nodes.workflow_node import WorkflowNode

    for node in flow.nodes:
        if isinstance(node, SaveOutputsNode):
            node.mark_pending()
            if state == "done":
                node.mark_saving()
                node.mark_saved(["saved/x.png"], SAVED_MESSAGE)  # only shown, never opened
            else:
                node.mark_blocked("blocked: upstream 'txt2img SD1.5 with a long title' failed")
        if not isinstance(node, WorkflowNode):
            continue
        node.mark_pending()
        node.mark_starting(False)
        job_id = f"job-{id(node)}"
        node.mark_queued(job_id)
        if state == "failed":
            node.mark_failed(LONG_ERROR, "local2")
            continue
        moved = JobError(ErrorKind.CONNECTION_LOST, "server went offline")
        attempts = [Attempt("local3", "p1", outcome=AttemptOutcome.RETRIED, error=moved),
                    Attempt("local1", "p2", outcome=AttemptOutcome.SUCCEEDED)]
        if ctx is not None:  # what the attempts line is read from
            ctx.runner.snapshots[job_id] = SimpleNamespace(attempts=attempts)
        refs = [OutputRef(server="local1", node_id=o.node_id, filename=f"{o.id}_00001_.png", subfolder="",
                          type="output") for o in node.spec.outputs]
        node.mark_done("local1", Progress(node_index=3, node_count=3), 12.3, refs)


if __name__ == "__main__":
    sys.exit(main())
