"""The editor offscreen (pytest-qt), with real Ryven windows and the real servers."""
from __future__ import annotations

import json

import pytest

from .conftest import REPO

pytestmark = pytest.mark.real

RUN_TIMEOUT_MS = 90_000


def flow_nodes(editor, title=None):
    nodes = editor.get_current_flow().nodes
    return [n for n in nodes if title is None or n.title == title]


def wait_run(qtbot, run, timeout=RUN_TIMEOUT_MS):
    qtbot.waitUntil(lambda: run.finished, timeout=timeout)
    return run


def new_workflow_node(editor, specs, spec_id="blurred_colour", **target):
    from ryven_comfy_nodes.gui_editor import add_workflow_node
    from ryven_comfy_nodes.workflow_spec import TargetSpec

    return add_workflow_node(editor, specs[spec_id], TargetSpec(**target))


def test_editor_has_example_project_dock_and_menu(editor):
    titles = sorted(n.title for n in flow_nodes(editor))
    assert titles == ["Number", "Preview", "Preview", "Save outputs", "blurred colour", "invert image"]
    menus = [a.text() for a in editor.menuBar().actions()]
    assert "ComfyUI" in menus
    assert editor.findChild(type(editor._ryven_comfy["dock"]), "ryven_comfy_servers_dock") is not None


def test_node_from_workflow_runs_from_its_button_with_progress_and_thumbnails(editor, specs, qtbot):
    from qtpy.QtCore import Qt

    node = new_workflow_node(editor, specs, server="local3")
    widget = node.gui.item.main_widget
    seen = []
    node.run_changed.sub(lambda: seen.append((node.run.status, node.run.progress.node_count)))
    node.set_value("width", 200)
    qtbot.mouseClick(widget.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: node.run.status in ("done", "failed"), timeout=RUN_TIMEOUT_MS)
    assert node.run.status == "done", node.run.message
    assert node.run.server == "local3"
    statuses = [s for s, _ in seen]
    assert "queued" in statuses and statuses[-1] == "done"
    assert any(count > 0 for s, count in seen if s == "running"), seen
    qtbot.waitUntil(lambda: "done" in widget.status.text(), timeout=2000)  # redraws are coalesced
    assert widget.progress.value() == 1000 and "local3" in widget.status.text()
    # thumbnails: fetched from the server that made the file, decoded, clickable
    qtbot.waitUntil(lambda: bool(widget.thumbs.thumbs) and all(t.loaded for t in widget.thumbs.thumbs), timeout=20_000)
    thumb = widget.thumbs.thumbs[0]
    assert not thumb.pixmap().isNull()
    thumb.mousePressEvent(None)
    viewer = widget.thumbs.viewer
    assert viewer is not None and viewer.isWindow() and viewer.parent() is None  # a real window, not in the canvas
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=20_000)
    assert viewer.view.item.pixmap().width() == 200
    viewer.close()


def test_mask_thumbnails_are_grayscale_and_video_falls_back(qapp):
    import io

    from PIL import Image

    from ryven_comfy_nodes.gui_media import decode

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "PNG")
    assert decode(buf.getvalue(), "mask").isGrayscale()
    gif = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    assert decode(gif.getvalue(), "video") is not None
    assert decode(b"\x00\x00\x00\x18ftypmp42 not decodable", "video") is None


def test_server_bounds_reach_node_widgets_and_out_of_range_is_refused(editor, qtbot):
    from qtpy.QtWidgets import QSpinBox

    from ryven_comfy_nodes.context import current_context

    ctx = current_context()
    qtbot.waitUntil(lambda: len(ctx.node_definitions()) == 3, timeout=30_000)
    node = flow_nodes(editor, "blurred colour")[0]
    pid = node.spec.param("Blur radius").id
    qtbot.waitUntil(lambda: node.spec.param(pid).constraints.max == 31, timeout=5000)
    port = node.gui.item.inputs[node.param_input_index(pid)]
    editor_widget = port.widget.editor.editor
    assert isinstance(editor_widget, QSpinBox) and editor_widget.maximum() == 31
    insp = node.gui.inspector_widget
    insp.load()
    assert insp.editors[pid].editor.maximum() == 31
    before = dict(ctx.runner.snapshots)
    node.set_value(pid, 40)
    wait_run(qtbot, ctx.runner.run_nodes([node]))
    assert node.run.status == "failed" and "above the maximum 31" in node.run.message
    assert ctx.runner.snapshots == before  # nothing submitted
    node.set_value(pid, 9)


def test_inspector_edits_values_and_exposes_fields(editor, specs, qtbot):
    from qtpy.QtCore import Qt

    node = new_workflow_node(editor, specs)
    insp = node.gui.inspector_widget
    insp.load()
    # edit an exposed parameter in the inspector
    ed = insp.editors["width"]
    ed.editor.setValue(321) if hasattr(ed.editor, "setValue") else ed.editor.setText("321")
    if hasattr(ed.editor, "editingFinished"):
        ed.editor.editingFinished.emit()
    assert node.values["width"] == 321
    # expose a settable field: a new port with an input widget appears; un-expose removes it
    items = [insp.fields.item(i) for i in range(insp.fields.count())]
    fields = [it for it in items if it.data(Qt.UserRole) is not None]  # the others are per-node headings
    assert len(fields) < len(items)
    sigma = next(it for it in fields if it.data(Qt.UserRole).input_name == "sigma")
    n_inputs = len(node.inputs)
    sigma.setCheckState(Qt.Checked)
    assert len(node.inputs) == n_inputs + 1 and node.spec.param_at("2", "sigma") is not None
    port_item = node.gui.item.inputs[-1]
    assert port_item.widget is not None
    assert "2.sigma" in insp.editors
    sigma = next(insp.fields.item(i) for i in range(insp.fields.count())
                 if insp.fields.item(i).data(Qt.UserRole) is not None
                 and insp.fields.item(i).data(Qt.UserRole).input_name == "sigma")
    sigma.setCheckState(Qt.Unchecked)
    assert len(node.inputs) == n_inputs and node.spec.param_at("2", "sigma") is None
    # the target chooser lists the servers
    targets = [insp.target.itemText(i) for i in range(insp.target.count())]
    assert "server local2" in targets
    insp.target.setCurrentIndex(targets.index("server local2"))
    insp._target_chosen(targets.index("server local2"))
    assert node.target.server == "local2"


def test_run_preview_runs_only_what_one_output_needs(editor, specs, qtbot):
    up = new_workflow_node(editor, specs, "blurred_colour")
    down = new_workflow_node(editor, specs, "invert_image")
    flow = editor.get_current_flow()
    flow.connect_nodes(up.outputs[0], down.inputs[0])
    from ryven_comfy_nodes.context import current_context

    ctx = current_context()
    run = wait_run(qtbot, ctx.runner.run_preview(down, "4"))  # "received": the uploaded image, not inverted
    assert run.ok and up.run.status == "done"
    assert [r.node_id for refs in down.run.outputs.values() for r in refs] == ["4"]
    assert down.run.progress.node_count <= 2


def test_gui_timer_keeps_ticking_while_10_jobs_run(editor, specs, qtbot):
    """A GUI timer keeps firing while 10 jobs run, and the jobs end done, spread over the servers.

    Only what holds on any machine is asserted (no tick rates, no durations): how responsive
    the GUI stays under load is a benchmark's question, not a test's."""
    from qtpy.QtCore import QTimer

    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.workflow_spec import settable_fields

    nodes = [new_workflow_node(editor, specs) for _ in range(10)]
    for i, n in enumerate(nodes):
        n.set_value("width", 512)
        n.set_value("height", 512)
        n.expose(next(f for f in settable_fields(n.spec.prompt) if f.input_name == "blur_radius"))
        n.set_value("2.blur_radius", 20 + i)
    ctx = current_context()
    run = ctx.runner.run_nodes(nodes)
    # started, not waited for: each node is starting or waits for its slice (a big run starts in
    # slices across turns of the GUI loop, so the window never freezes while it submits)
    from ryven_comfy_nodes.run_state import RunStatus

    assert not run.finished and all(n.run.busy or n.run.status is RunStatus.PENDING for n in nodes)
    finished_at_tick: list[bool] = []
    timer = QTimer()
    timer.timeout.connect(lambda: finished_at_tick.append(run.finished))
    timer.start(50)
    wait_run(qtbot, run, timeout=180_000)
    timer.stop()
    assert run.ok, "; ".join(f"{n.run.status}:{n.run.message}" for n in nodes)
    assert all(n.run.status == "done" for n in nodes)
    assert len({n.run.server for n in nodes}) >= 2  # spread over the servers
    assert False in finished_at_tick  # the GUI event loop kept turning while the jobs ran


def test_ryven_project_save_keeps_workflows_values_targets_positions(editor, tmp_path):
    from ryven_comfy_nodes.project_ryven import load_ryven_project, specs_in_ryven_project

    blurred = flow_nodes(editor, "blurred colour")[0]
    blurred.target.server = "local2"
    blurred.set_value("1.color", 0x123456)
    blurred.gui.item.setPos(11, 22)
    path = tmp_path / "project.json"
    editor.save_project(str(path))
    data = json.loads(path.read_text())
    assert any(p["name"] == "ryven_comfy_nodes" for p in data["required packages"])
    assert {s.id for s in specs_in_ryven_project(data, trust_pickles=True)} >= {"blurred_colour", "invert_image"}
    _, flows = load_ryven_project(data, trust_pickles=True)
    again = next(n for f in flows for n in f.nodes if n.title == "blurred colour" and n.values.get("1.color") == 0x123456)
    assert again.target.server == "local2"
    assert (again.load_data["pos x"], again.load_data["pos y"]) == (11, 22)
    blurred.target.server = None


def test_export_import_and_autosave(editor, tmp_path):
    from ryven_comfy_nodes import gui_editor
    from ryven_comfy_nodes.project_format import load_orchestrator

    path = tmp_path / "x.orchestrator.json"
    gui_editor.export_project(editor, path)
    project = load_orchestrator(path)
    assert {n.kind for n in project.flows[0].nodes} >= {"workflow", "number", "preview", "save"}
    before = len(editor.get_current_flow().nodes)
    gui_editor.import_orchestrator(editor, path)
    assert len(editor.get_current_flow().nodes) == 2 * before
    saver = editor._ryven_comfy["autosaver"]
    number = flow_nodes(editor, "Number")[0]
    for i in range(7):
        from ryvencore import Data
        number.inputs[0].default = Data(i)
        assert gui_editor.autosave(editor) is not None
    assert gui_editor.autosave(editor) is None  # unchanged: no new version
    assert len(saver.versions()) == 5


def test_screenshot_of_the_example_project_after_a_run(editor, qtbot, tmp_path):
    """Runs the example flow and saves a screenshot (to a temporary folder: the README's
    docs/screenshot-editor.png is made with ``ryven-comfy editor --run --screenshot``)."""
    from ryven_comfy_nodes import gui_editor

    flow = editor.get_current_flow()
    for n in list(flow.nodes):  # back to just the example project
        flow.remove_node(n)
    gui_editor.import_orchestrator(editor, REPO / "example_projects" / "cpu_chain.orchestrator.json")
    run = wait_run(qtbot, gui_editor.run_current_flow(editor))
    assert run.ok
    for n in flow.nodes:
        thumbs = getattr(getattr(getattr(n.gui.item, "main_widget", None), "thumbs", None), "thumbs", [])
        qtbot.waitUntil(lambda t=thumbs: all(x.loaded for x in t), timeout=20_000)
    editor.flow_UIs[flow].flow_view.select_items([flow_nodes(editor, "blurred colour")[0].gui.item])
    qtbot.wait(1500)  # a few metrics samples for the plot
    from qtpy.QtCore import Qt
    flow_ui = editor.flow_UIs[flow]
    flow_ui.resizeDocks([flow_ui.ui.inspector_dock], [430], Qt.Horizontal)
    editor.resizeDocks([editor._ryven_comfy["dock"]], [260], Qt.Vertical)
    qtbot.wait(300)
    gui_editor.fit_flow(editor)
    qtbot.wait(300)
    out = tmp_path / "screenshot-editor.png"
    assert editor.grab().save(str(out))
    assert out.stat().st_size > 20_000


OPEN_PROJECT_SCRIPT = """
import os, sys
os.environ["QT_API"] = "pyside6"
from qtpy.QtWidgets import QApplication
from comfy_backend.config import load_servers_config
from ryven_comfy_nodes.context import current_context
from ryven_comfy_nodes.launcher import create_editor
app = QApplication(sys.argv[:1])
ed = create_editor(load_servers_config(sys.argv[1]), sys.argv[2], app=app, trust_pickles=True)
nodes = [n for f in ed.core_session.flows for n in f.nodes]
b = next(n for n in nodes if n.title == "blurred colour")
print("OK", b.values.get("1.color"), b.target.server, b.identifier, len(nodes), flush=True)
ctx = current_context(create=False)
ctx.dispatcher.stop()
ctx.close()
os._exit(0)
"""


def test_editor_opens_a_saved_ryven_project_in_a_new_process(editor, servers_yaml, tmp_path):
    """`ryven-comfy editor project.json`: the workflow classes exist before Ryven loads the nodes."""
    import os
    import subprocess
    import sys

    blurred = flow_nodes(editor, "blurred colour")[0]
    blurred.set_value("1.color", 0x654321)
    blurred.target.server = "local3"
    path = tmp_path / "saved.json"
    editor.save_project(str(path))
    blurred.target.server = None
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTWEBENGINE_DISABLE_SANDBOX": "1",
           "RYVEN_COMFY_AUTOSAVE_DIR": str(tmp_path / "autosave")}
    r = subprocess.run([sys.executable, "-c", OPEN_PROJECT_SCRIPT, str(servers_yaml), str(path)],
                       capture_output=True, text=True, timeout=120, env=env, cwd=str(tmp_path))
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("OK ")), None)
    assert line is not None, r.stderr[-3000:]
    _, color, server, ident, count = line.split()
    assert (int(color), server, ident) == (0x654321, "local3", "ryven_comfy_nodes.wf.blurred_colour")
    assert int(count) == len(flow_nodes(editor))


#: a UI-format workflow (EmptyImage → ImageBlur → SaveImage): converted with a server's node definitions
UI_WORKFLOW = {
    "last_node_id": 3, "last_link_id": 2, "version": 0.4,
    "nodes": [
        {"id": 1, "type": "EmptyImage", "pos": [0, 0], "size": [300, 130], "order": 0, "mode": 0,
         "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0}],
         "properties": {}, "widgets_values": [128, 96, 1, 0x336699]},
        {"id": 2, "type": "ImageBlur", "pos": [350, 0], "size": [300, 80], "order": 1, "mode": 0,
         "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2], "slot_index": 0}],
         "properties": {}, "widgets_values": [5, 1.0]},
        {"id": 3, "type": "SaveImage", "pos": [700, 0], "size": [300, 270], "order": 2, "mode": 0,
         "inputs": [{"name": "images", "type": "IMAGE", "link": 2}], "outputs": [],
         "properties": {}, "widgets_values": ["ryven-comfy/dialog"]},
    ],
    "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {},
}


def test_add_workflow_node_from_a_file_registers_lists_places_and_saves(editor, qtbot, tmp_path):
    """What the dialog's OK does, end to end: file → class in the editor → node in the flow → saved project."""
    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.gui_editor import add_workflow_from_file
    from ryven_comfy_nodes.project_ryven import specs_in_ryven_project
    from ryven_comfy_nodes.workflow_spec import TargetSpec

    qtbot.waitUntil(lambda: len(current_context().node_definitions()) == 3, timeout=30_000)
    path = tmp_path / "soft_square_api.json"
    path.write_text(json.dumps(UI_WORKFLOW))
    before = len(flow_nodes(editor))
    node = add_workflow_from_file(editor, path, target=TargetSpec(server="local1"))
    cls = type(node)
    assert cls.identifier == "ryven_comfy_nodes.wf.soft_square" and node.title == "soft square"
    assert cls in editor.core_session.nodes and node in editor.get_current_flow().nodes
    assert len(flow_nodes(editor)) == before + 1 and node.gui.item.scene() is not None
    assert node.target.server == "local1"
    # the node keeps the UI workflow itself (the core converts it for the server that runs it);
    # the servers' definitions give the bounds
    assert node.spec.ui is not None and not node.spec.prompt
    assert [n["type"] for n in node.spec.workflow["nodes"]] == ["EmptyImage", "ImageBlur", "SaveImage"]
    assert node.spec.param("width").constraints.max is not None
    # listed in Ryven's node list (found by its title)
    nlw = editor.nodes_list_widget
    assert cls in nlw.nodes
    nlw.search_line_edit.setText("soft square")
    nlw._update_view("soft square")
    assert cls in nlw.current_nodes
    nlw.search_line_edit.setText("")
    # a saved Ryven project names the class and embeds the workflow
    saved = tmp_path / "with_added.json"
    editor.save_project(str(saved))
    data = json.loads(saved.read_text())
    idents = [nd["identifier"] for f in (data["flows"].values() if isinstance(data["flows"], dict) else data["flows"])
              for nd in f["nodes"]]
    assert cls.identifier in idents
    spec = next(s for s in specs_in_ryven_project(data, trust_pickles=True) if s.id == "soft_square")
    assert spec.workflow == node.spec.workflow
    # a broken file is an error for the dialog to show, and places nothing
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    with pytest.raises(Exception):
        add_workflow_from_file(editor, bad)
    assert len(flow_nodes(editor)) == before + 1
    editor.get_current_flow().remove_node(node)


def test_add_workflow_dialog_calls_the_same_function(editor, qtbot, tmp_path):
    from ryven_comfy_nodes.gui_add import AddWorkflowDialog

    calls = []
    dlg = AddWorkflowDialog(lambda name, path, target: calls.append((name, path, target.server)) or "node", editor)
    dlg.file.setText(str(tmp_path / "x_api.json"))
    dlg.target_box.setCurrentIndex(dlg.target_box.findData("local2"))
    dlg._accept()
    assert calls == [("", str(tmp_path / "x_api.json"), "local2")] and dlg.node == "node"
    failing = AddWorkflowDialog(lambda *a: (_ for _ in ()).throw(ValueError("bad file")), editor)
    failing._accept()
    assert failing.error.text() == "bad file" and failing.node is None


def test_mask_thumbnail_of_a_node_overlays_its_upstream_image(editor, specs, tmp_path, qtbot):
    """A workflow node's mask thumbnails open with "Overlay on input image" once its image input is connected."""
    import io

    from PIL import Image
    from ryvencore import Data

    from comfy_backend.models import OutputRef
    from ryven_comfy_nodes.utility_nodes import ImageFileNode
    from ryven_comfy_nodes.values import file_value

    src = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (10, 120, 40)).save(src)
    buf = io.BytesIO()
    Image.new("L", (40, 30), 255).save(buf, "PNG")
    node = new_workflow_node(editor, specs, "invert_image")
    widget = node.gui.item.main_widget
    assert widget.upstream_image() is None
    flow = editor.get_current_flow()
    image_node = flow.create_node(ImageFileNode)
    image_node.inputs[0].default = Data(str(src))
    image_node.update()
    flow.connect_nodes(image_node.outputs[0], node.inputs[0], silent=True)
    assert widget.upstream_image() == file_value(src)
    ref = OutputRef(server="local1", node_id="9", filename="mask_00001_.png", subfolder="", type="temp")
    widget.thumbs.show_refs([(ref, "mask")])
    thumb = widget.thumbs.thumbs[0]
    thumb.data = buf.getvalue()
    viewer = widget.thumbs.open_viewer(thumb)
    qtbot.waitUntil(lambda: viewer.image is not None, timeout=10_000)
    assert viewer.mask_mode.isVisibleTo(viewer) and viewer.view.item.pixmap().toImage().isGrayscale()
    viewer.mask_mode.setCurrentIndex(1)
    qtbot.waitUntil(lambda: viewer.overlay is not None, timeout=10_000)
    assert (viewer.overlay.width(), viewer.overlay.height()) == (40, 30)
    assert not viewer.view.item.pixmap().toImage().isGrayscale()
    viewer.close()
    flow.remove_node(node)
    flow.remove_node(image_node)
