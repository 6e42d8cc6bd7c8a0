"""The editor as a desktop app (issue 10): servers choice, viewer window, notifications, layout,
node sizes, placement, inspector, screenshot mode. No timed assertions."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from comfy_backend.models import OutputRef

from .test_gui import REPO, flow_nodes, new_workflow_node, wait_run

PROJECT = REPO / "example_projects" / "cpu_chain.orchestrator.json"


def png(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


# -- --servers and local servers (item 11) ------------------------------------------------------------
def test_servers_file_is_honoured_even_when_it_is_the_local_servers_own(monkeypatch):
    from comfy_backend import local_default

    def no_start(*a, **k):
        raise AssertionError("local servers must not be started")

    monkeypatch.setattr(local_default, "start_local_servers", no_start)
    lines: list[str] = []
    own = local_default.local_servers_file()
    assert local_default.servers_file_or_local(str(own), 3, lines.append) == own
    assert any(str(own) in line for line in lines)


def test_nothing_configured_and_local_servers_running_uses_them(monkeypatch):
    from comfy_backend import local_default

    monkeypatch.setattr(local_default, "find_servers_file", lambda: None)
    monkeypatch.setattr(local_default, "local_servers_running", lambda count: True)
    monkeypatch.setattr(local_default, "start_local_servers",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("started")))
    lines: list[str] = []
    assert local_default.servers_file_or_local(None, 3, lines.append) == local_default.local_servers_file()
    assert "already running" in lines[0]


def test_size_option_is_parsed():
    from ryven_comfy_nodes.gui_screenshot import parse_size

    assert parse_size("1600x1000") == (1600, 1000)
    for bad in ("1600", "axb", "10x10"):
        with pytest.raises(ValueError):
            parse_size(bad)


# -- viewer ---------------------------------------------------------------------------------------------
def test_viewer_is_a_window_steps_through_the_batch_and_closes_with_escape(qapp, qtbot):
    from qtpy.QtCore import Qt

    from ryven_comfy_nodes.gui_viewer import Viewer

    refs = [OutputRef(server="s1", node_id="9", filename=f"img_{i}.png", subfolder="", type="output") for i in range(2)]
    data = {refs[0]: png((64, 48)), refs[1]: png((30, 20), (0, 0, 255))}
    viewer = Viewer([(r, "image", None) for r in refs], 0, preloaded=data)
    viewer.show()
    assert viewer.isWindow() and viewer.parent() is None
    qtbot.waitUntil(lambda: viewer.image is not None)
    assert viewer.view.item.pixmap().width() == 64
    qtbot.keyClick(viewer, Qt.Key_Right)
    qtbot.waitUntil(lambda: viewer.image is not None and viewer.image.width() == 30)
    assert viewer.counter.text() == "2/2"
    viewer.view.actual_size()
    assert viewer.view.transform().m11() == 1.0
    with qtbot.waitSignal(viewer.destroyed):
        qtbot.keyClick(viewer, Qt.Key_Escape)


def test_viewer_mask_grayscale_then_overlay_on_its_image(qapp, qtbot, tmp_path):
    from ryven_comfy_nodes.gui_viewer import Viewer
    from ryven_comfy_nodes.values import file_value

    src = tmp_path / "input.png"
    src.write_bytes(png((64, 48), (20, 60, 200)))
    buf = io.BytesIO()
    Image.new("L", (32, 24), 255).save(buf, "PNG")
    ref = OutputRef(server="s1", node_id="3", filename="mask.png", subfolder="", type="temp")
    viewer = Viewer([(ref, "mask", file_value(src))], preloaded={ref: buf.getvalue()})
    viewer.show()
    qtbot.waitUntil(lambda: viewer.image is not None)
    assert viewer.view.item.pixmap().toImage().isGrayscale()
    viewer.mask_mode.setCurrentIndex(1)
    qtbot.waitUntil(lambda: viewer.overlay is not None)
    assert (viewer.overlay.width(), viewer.overlay.height()) == (64, 48)
    assert not viewer.view.item.pixmap().toImage().isGrayscale()
    viewer.close()


# -- notifications on a server lost (a fake server in its own process) ----------------------------------
def test_notifications_on_server_loss(qapp, qtbot, tmp_path):
    from qtpy.QtWidgets import QMainWindow

    from comfy_backend import Orchestrator, load_servers_config
    from ryven_comfy_nodes.context import AppContext
    from ryven_comfy_nodes.gui_notify import Notifications
    from ryven_comfy_nodes.qt_dispatch import QtDispatcher

    fleet = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_fleet", "--speeds", "1"], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = json.loads(fleet.stdout.readline())["urls"][0]
        cfg = tmp_path / "servers.yaml"
        cfg.write_text(f"servers:\n  - id: fake1\n    url: {url}\ndefaults:\n  health_interval: 0.2\n")
        disp = QtDispatcher()
        orch = Orchestrator(load_servers_config(cfg), queue_timeout=None).start(wait_checked=False)
        ctx = AppContext(orch, disp.post)
        window = QMainWindow()
        panel = Notifications(window)
        ctx.server_changed.sub(panel.on_server)
        qtbot.waitUntil(lambda: panel._health.get("fake1") is not None and panel._health["fake1"].value == "online",
                        timeout=30_000)
        fleet.stdin.close()  # the fleet stops its servers
        fleet.wait()
        qtbot.waitUntil(lambda: any("fake1 went offline" in text for _, _, text in panel.entries), timeout=60_000)
        assert "fake1 went offline" in window.statusBar().currentMessage()
        assert panel.count() >= 1 and ":" in panel.item(0).text()[:8]  # timestamped
        disp.stop()
        ctx.close()
    finally:
        if fleet.poll() is None:
            fleet.kill()


# -- the editor (real servers) ----------------------------------------------------------------------------
@pytest.mark.real
def test_nodes_show_their_results_without_clipping(editor, qtbot):
    from ryven_comfy_nodes import gui_editor

    flow = editor.get_current_flow()
    run = wait_run(qtbot, gui_editor.run_current_flow(editor))
    assert run.ok
    for n in flow.nodes:
        mw = getattr(n.gui.item, "main_widget", None)
        strip = getattr(mw, "thumbs", None)
        if strip is None:
            continue
        qtbot.waitUntil(lambda s=strip: bool(s.thumbs) and all(t.loaded for t in s.thumbs), timeout=20_000)
        proxy = n.gui.item.widget.main_widget_proxy
        # the widget and then the item grow (the item's resize is a later turn of the redraw queue)
        qtbot.waitUntil(lambda m=mw, p=proxy: m.size().height() >= m.sizeHint().height() and
                        m.size().width() >= m.sizeHint().width() and
                        p.size().height() >= m.sizeHint().height(), timeout=20_000)
    preview = flow_nodes(editor, "Preview")[0]
    assert not preview.gui.item.main_widget.thumbs.thumbs[0].pixmap().isNull()


@pytest.mark.real
def test_new_node_lands_in_view_and_inspector_never_grows_the_window(editor, specs, qtbot):
    from ryven_comfy_nodes import gui_layout

    view = gui_layout.flow_view(editor)
    size = editor.size()
    node = new_workflow_node(editor, specs, "blurred_colour")
    pos = view.mapFromScene(node.gui.item.pos())
    assert view.viewport().rect().contains(pos)
    for f in __import__("ryven_comfy_nodes.workflow_spec", fromlist=["x"]).settable_fields(node.spec.prompt):
        node.expose(f)  # many parameters in the inspector
    view.select_items([node.gui.item])
    qtbot.wait(50)
    assert editor.size() == size
    editor.get_current_flow().remove_node(node)


@pytest.mark.real
def test_screenshot_mode_runs_the_flow_and_exits_with_its_status(servers_yaml, tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RYVEN_COMFY_EDITOR_SETTINGS=str(tmp_path / "ed.ini"),
               RYVEN_COMFY_AUTOSAVE_DIR=str(tmp_path / "autosave"))
    proc = subprocess.run([sys.executable, "-m", "comfy_backend.cli.main", "editor", str(PROJECT), "--servers",
                           str(servers_yaml), "--run", "--screenshot", str(out), "--size", "1200x800"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Image.open(out).size == (1200, 800)
    assert Path(servers_yaml).exists()


@pytest.mark.real
def test_file_menu_tracks_unsaved_changes_and_opens_a_project_named_after_it(editor, tmp_path, monkeypatch):
    from ryven_comfy_nodes import gui_filemenu

    monkeypatch.setenv("RYVEN_COMFY_EDITOR_SETTINGS", str(tmp_path / "ed.ini"))
    assert gui_filemenu.open_project(editor, PROJECT, ask=False)
    assert editor.get_current_flow().title not in ("untitled", "hello world")  # named after the project
    assert not gui_filemenu.is_modified(editor) and PROJECT.name in editor.windowTitle()
    blurred = flow_nodes(editor, "blurred colour")[0]
    blurred.gui.item.setPos(blurred.gui.item.pos().x() + 50, blurred.gui.item.pos().y())
    assert gui_filemenu.is_modified(editor)
    out = tmp_path / "saved.orchestrator.json"
    assert gui_filemenu.save_to(editor, out)
    assert not gui_filemenu.is_modified(editor) and str(out.resolve()) in gui_filemenu.recent_files()
    names = [a.text() for a in editor.ui.menuFile.actions()]
    assert {"New project", "Open project…", "Save project", "Save project as…", "Quit"} <= set(names)

