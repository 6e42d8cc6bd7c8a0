"""Make docs/screenshot-webui.png: the CPU example after a run, "invert image" open in ComfyUI's web UI.

Needs the three shared local servers (``ryven-comfy local-servers up --count 3``;
127.0.0.1:18188-18190)::

    QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1 .venv/bin/python docs/screenshot_webui.py [OUT.png]

The editor opens at 1600x1000 with no saved layout (``RYVEN_COMFY_EDITOR_SETTINGS=none``), runs the
flow, presses the node's "Edit in ComfyUI" (the button's own code path), waits for the page and the
push, hides the flows and nodes lists, widens the web-UI dock, fits both canvases (the web UI's no
further out than 70 %, where its nodes are still drawn with text), selects the node so the inspector
shows it and saves a PNG of the whole window (default docs/screenshot-webui.png).
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
os.environ["RYVEN_COMFY_EDITOR_SETTINGS"] = "none"   # no saved window layout: the same picture every time

PROJECT = REPO / "example_projects" / "cpu_chain.orchestrator.json"
NODE_TITLE = "invert image"
SIZE = (1600, 1000)
WEB_WIDTH = 760   # px of the web-UI dock: room for its side bar and a readable graph
MIN_WEB_ZOOM = 0.7
TIMEOUT = 600.0   # s: a loaded 2-core machine starts pages and runs flows slowly
# Fits the web UI's graph into its canvas with the frontend's own "Fit view" command (animated).
FIT_JS = "await app.extensionManager.command.execute('Comfy.Canvas.FitView'); return true;"
# Below about 0.6 litegraph draws nodes as empty boxes (no titles, no widgets): zoom in to
# MIN_WEB_ZOOM around the graph's centre where the fit went below it.
ZOOM_JS = """
    const ds = app.canvas.ds, want = %s;
    if (ds.scale < want) {
        const nodes = app.graph._nodes;
        const xs = nodes.flatMap(n => [n.pos[0], n.pos[0] + n.size[0]]);
        const ys = nodes.flatMap(n => [n.pos[1], n.pos[1] + n.size[1]]);
        const cx = (Math.min(...xs) + Math.max(...xs)) / 2, cy = (Math.min(...ys) + Math.max(...ys)) / 2;
        ds.changeScale(want, [(cx + ds.offset[0]) * ds.scale, (cy + ds.offset[1]) * ds.scale]);
        app.canvas.setDirty(true, true);
    }
    return ds.scale;
"""


def pump(app: Any, seconds: float) -> None:
    """Let Qt (and the page) work for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def wait_for(app: Any, what: str, ready: Callable[[], bool]) -> None:
    """Pump events until ``ready()``; SystemExit after TIMEOUT."""
    end = time.monotonic() + TIMEOUT
    while not ready():
        if time.monotonic() > end:
            raise SystemExit(f"gave up waiting for {what}")
        pump(app, 0.2)


def fit_node(view: Any, item: Any, margin: float = 30.0) -> None:
    """Zoom the Ryven canvas onto one node (never past 1:1), as ``gui_layout.fit_flow`` does for all."""
    from qtpy.QtCore import Qt

    rect = item.sceneBoundingRect()
    view.fitInView(rect.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio)
    if view.transform().m11() > 1.0:
        view.resetTransform()
    view.centerOn(rect.center())
    view._current_scale = view.transform().m11()  # Ryven's own zoom bookkeeping


def main(out: Path) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    from comfy_backend import resolve_servers_config
    from comfy_backend.local.instances import default_state_dir
    from editor_bridge import wait
    from ryven_comfy_nodes import gui_layout, gui_webui
    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.gui_screenshot import ScreenshotRun
    from ryven_comfy_nodes.launcher import create_editor
    from ryven_comfy_nodes.workflow_node import WorkflowNode

    servers = default_state_dir() / "servers.yaml"   # where `ryven-comfy local-servers up` lists them
    if not servers.is_file():
        raise SystemExit(f"{servers}: no local servers (ryven-comfy local-servers up --count 3)")
    gui_webui.prepare_app()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    editor = create_editor(resolve_servers_config(servers), PROJECT, app=app)
    editor.resize(*SIZE)
    editor.show()
    pump(app, 1.0)

    codes: list[int] = []   # the run as the screenshot mode does it: flow done, thumbnails loaded
    shot = ScreenshotRun(editor, None, run=True, done=codes.append, timeout=TIMEOUT)
    shot.start()
    wait_for(app, "the flow's run", lambda: bool(codes))
    if codes[0] != 0:
        raise SystemExit("the flow did not run through: see the log above")

    flow = editor.get_current_flow()
    node = next(n for n in flow.nodes if isinstance(n, WorkflowNode) and n.title == NODE_TITLE)
    tab = gui_webui.edit_in_comfyui(node)   # what the node's "Edit in ComfyUI" button calls
    if tab is None:
        raise SystemExit("Edit in ComfyUI opened nothing")
    wait_for(app, "the page and the push", lambda: tab.pushed is not None or "refused" in tab.status.text())
    if tab.pushed is None:
        raise SystemExit(tab.status.text())
    # the flows and nodes lists make way for the canvas and the web UI (this picture only)
    for dock in (editor.ui.flows_dock, editor.ui.nodes_dock):
        dock.hide()
    editor.resizeDocks([gui_webui.webui_dock(editor)], [WEB_WIDTH], Qt.Orientation.Horizontal)
    pump(app, 3.0)   # the page lays its panels out and draws the graph
    wait(tab.view.editor.run_js(FIT_JS), 60)
    pump(app, 1.5)   # the fit is animated
    print("web UI zoom:", wait(tab.view.editor.run_js(ZOOM_JS % MIN_WEB_ZOOM), 60))
    item = getattr(getattr(node, "gui", None), "item", None)   # the node's item on the canvas
    if item is None:
        raise SystemExit(f"{NODE_TITLE!r} has no item on the canvas")
    view = gui_layout.flow_view(editor, flow)
    view.select_items([item])   # the inspector shows the node
    fit_node(view, item)
    pump(app, 2.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not editor.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(out)
    editor._ryven_comfy["close_guard"].ask = False
    editor.close()
    pump(app, 1.0)
    ctx = current_context(create=False)   # what the editor's aboutToQuit does (no app.exec here)
    if ctx is not None:
        ctx.dispatcher.stop()
        ctx.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshot-webui.png")
