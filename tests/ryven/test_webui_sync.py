"""Edit in ComfyUI from the Ryven editor (issue 9): push → edit in the real web UI → sync → diff → accept → undo.

Real servers (RYVEN_COMFY_REUSE_SERVERS=1), QtWebEngine offscreen; the editor window is shared by the
session, one page per frontend (1.32.9, the one ComfyUI 0.3.75 ships, and 1.58.1 served with
``--front-end-root``). Waits are for events (qtbot.waitUntil), never timed assertions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.editor_bridge.conftest import FRONTENDS, newer_frontend_server  # noqa: F401 - a fixture used here

pytestmark = pytest.mark.real
SAMPLE = Path(__file__).resolve().parents[1] / "editor_bridge" / "sample_workflow.json"
W = 120_000   # ms: pages are slow to start on a loaded 2-core machine


@pytest.fixture(scope="module", params=FRONTENDS)
def frontend_server(request: pytest.FixtureRequest, editor: Any) -> str:
    """The id of an editor server serving that frontend (local1, or one added for 1.58.1)."""
    if request.param == "1.32.9":
        return "local1"
    from comfy_backend import ServerConfig
    from ryven_comfy_nodes.context import current_context

    url = request.getfixturevalue("newer_frontend_server")
    ctx = current_context(create=False)
    if ctx.orch.server_config("fe158") is None:
        ctx.orch.add_server(ServerConfig(id="fe158", url=url)).result(60)
    return "fe158"


@pytest.fixture(scope="module")
def ui_node(editor: Any, frontend_server: str) -> Any:
    from ryven_comfy_nodes.gui_editor import add_workflow_node
    from ryven_comfy_nodes.workflow_spec import TargetSpec, spec_from_prompt

    spec = spec_from_prompt(json.loads(SAMPLE.read_text()), "Web UI sample", f"webui_sample_{frontend_server}")
    node = add_workflow_node(editor, spec, TargetSpec(server=frontend_server))
    yield node
    if node in node.flow.nodes:
        node.flow.remove_node(node)


@pytest.fixture(scope="module")
def tab(editor: Any, ui_node: Any, qapp: Any, frontend_server: str) -> Any:
    from pytestqt.qtbot import QtBot

    from ryven_comfy_nodes import gui_webui

    t = gui_webui.edit_in_comfyui(ui_node)
    assert t is not None and t.server_id == frontend_server
    QtBot(qapp).waitUntil(lambda: t.pushed is not None or "refused" in t.status.text(), timeout=W)
    assert t.pushed is not None, t.status.text()
    yield t
    dock = gui_webui.webui_dock(editor)
    if dock is not None and dock.tabs.indexOf(t) >= 0:
        dock.close_tab(dock.tabs.indexOf(t))


def _js(tab: Any, body: str) -> Any:
    from editor_bridge import wait

    return wait(tab.view.editor.run_js(body), W / 1000)


def _accepting(monkeypatch: pytest.MonkeyPatch, seen: list[Any], choose: dict[str, str | None]) -> None:
    from qtpy.QtWidgets import QDialog

    from ryven_comfy_nodes.gui_sync import SyncDialog

    def exec_(self: SyncDialog) -> int:
        for pid, key in choose.items():
            if pid in self.combos:
                self.choose(pid, key)
        seen.append((self.diff, self.ports.text()))
        return QDialog.Accepted

    monkeypatch.setattr(SyncDialog, "exec", exec_)


def test_push_edit_sync_accept_undo(tab: Any, ui_node: Any, editor: Any, qtbot: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ryven_comfy_nodes import gui_undo
    from ryven_comfy_nodes.project_format import export_flows

    node = ui_node
    flow = node.flow
    assert node.spec.ui is not None and node.webui_state.get("server") == tab.server_id
    shown = _js(tab, "return app.graph.serialize()")
    assert any("ryven_comfy" in (n.get("properties") or {}) for n in shown["nodes"])
    # an upstream node on the width port (kept) and a Preview on the SaveImage output (will go)
    number = next(c for c in editor.core_session.nodes if c.__name__.startswith("Number") or "Int" in c.__name__)
    src = flow.create_node(number)
    flow.connect_nodes(src.outputs[0], node.inputs[node.param_input_index("width")])
    node.set_value("height", 72)
    qtbot.waitUntil(lambda: tab.canvas_dirty, timeout=W)
    assert "◆" in tab.title()
    tab.push()   # the node's values go into the web UI again
    qtbot.waitUntil(lambda: not tab.canvas_dirty, timeout=W)
    assert _js(tab, "return app.graph.getNodeById(1).widgets.find(w => w.name === 'height').value") == 72
    # edits in the web UI: a widget changed, a node added, the exposed SaveImage deleted
    _js(tab, """
        const g = app.graph;
        g.getNodeById(1).widgets.find(w => w.name === 'batch_size').value = 2;
        g.add(LiteGraph.createNode('ImageInvert'));
        g.remove(g.getNodeById(3));
        captureState();
        return true;""")
    qtbot.waitUntil(lambda: tab.web_dirty, timeout=W)
    assert "●" in tab.title()
    old_spec = node.spec.model_copy(deep=True)
    seen: list[Any] = []
    _accepting(monkeypatch, seen, {"filename_prefix": None})
    tab.sync()
    qtbot.waitUntil(lambda: bool(seen), timeout=W)
    qtbot.waitUntil(lambda: gui_undo.can_undo(node), timeout=W)
    diff, ports_text = seen[0]
    assert [b.parameter.id for b in diff.broken] == ["filename_prefix"]
    assert {b.parameter.id for b in diff.kept} == {"width", "height", "batch_size"}
    assert "connections kept" in ports_text and "Width" in ports_text
    assert "ports removed" in ports_text
    assert node.spec.param("filename_prefix") is None
    assert [o.node_id for o in node.spec.outputs] == ["6"]
    assert node.values["batch_size"] == 2
    assert flow.connected_output(node.inputs[node.param_input_index("width")]) is src.outputs[0]
    assert any(n.get("type") == "ImageInvert" for n in node.spec.ui["nodes"] if n.get("id") not in (2,))
    assert not tab.web_dirty
    # the project keeps the synced UI workflow
    saved = export_flows([flow]).flows[0].nodes
    assert any(e.spec is not None and e.spec.ui == node.spec.ui for e in saved)
    assert tab.undo_button.isEnabled() and gui_undo.UNDO_ACTION in node.gui.actions
    synced_spec = node.spec
    # Ctrl+Z on the canvas: one step of Ryven's undo stack brings the old workflow back, redo the synced one
    view = gui_undo.flow_view(node)
    stack = view._undo_stack
    assert stack.undoText().startswith("Sync 'Web UI sample'")
    _undo_key(qtbot, editor, view)
    assert node.spec == old_spec and not gui_undo.can_undo(node) and not tab.undo_button.isEnabled()
    assert gui_undo.UNDO_ACTION not in node.gui.actions
    assert flow.connected_output(node.inputs[node.param_input_index("width")]) is src.outputs[0]
    stack.redo()
    assert node.spec == synced_spec and gui_undo.can_undo(node)
    # a step after the sync (a connection made on the canvas); "Undo last sync" from the node's
    # context menu then adds a step back to the old workflow: the SaveImage output and its port return
    from ryvencore_qt.src.flows.FlowCommands import ConnectPorts_Command

    seed = flow.create_node(number)
    view.push_undo(ConnectPorts_Command(view, seed.outputs[0], node.inputs[node.param_input_index("height")]))
    node.gui.actions[gui_undo.UNDO_ACTION]["method"]()
    assert node.spec == old_spec and node.spec.param("filename_prefix") is not None
    assert flow.connected_output(node.inputs[node.param_input_index("width")]) is src.outputs[0]
    assert flow.connected_output(node.inputs[node.param_input_index("height")]) is seed.outputs[0]
    # and the stack stays consistent all the way down: undo that step, the connection, the sync
    for _ in range(3):
        stack.undo()
    assert node.spec == old_spec and not gui_undo.can_undo(node)
    assert flow.connected_output(node.inputs[node.param_input_index("height")]) is None
    assert flow.connected_output(node.inputs[node.param_input_index("width")]) is src.outputs[0]
    assert all(i in flow.graph_adj_rev for i in node.inputs)   # no stale port left in the graph
    flow.remove_node(seed)
    flow.remove_node(src)


def _undo_key(qtbot: Any, editor: Any, view: Any) -> None:
    """Ctrl+Z as the user types it on the canvas, else (an offscreen window that is not active) Edit → Undo."""
    from qtpy.QtCore import Qt

    before = view._undo_stack.index()
    editor.activateWindow()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_Z, Qt.ControlModifier)
    if view._undo_stack.index() == before:
        menu = editor._ryven_comfy_edit_menu
        menu.aboutToShow.emit()
        undo = menu.actions()[0]
        assert undo.isEnabled() and undo.text().startswith("Undo Sync 'Web UI sample'")
        undo.trigger()
    assert view._undo_stack.index() == before - 1


def test_sync_refused_while_the_node_runs(tab: Any, ui_node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from qtpy.QtWidgets import QMessageBox

    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: told.append(a[2]))
    ui_node.mark_pending()
    ui_node.mark_starting(False)
    try:
        before = ui_node.spec
        tab.sync()
        assert told and "running" in told[0]
        assert "refused" in tab.status.text() and ui_node.spec is before
    finally:
        ui_node.mark_failed("test over")


def test_offline_server_gives_a_message_in_the_tab(editor: Any, qtbot: Any) -> None:
    from comfy_backend import ServerConfig
    from ryven_comfy_nodes import gui_webui
    from ryven_comfy_nodes.context import current_context

    ctx = current_context(create=False)
    ctx.orch.add_server(ServerConfig(id="gone", url="http://127.0.0.1:9")).result(30)
    try:
        t = gui_webui.open_web_ui("gone")
        assert t is not None
        qtbot.waitUntil(lambda: "could not be used" in t.status.text(), timeout=W)
        assert "gone" in t.status.text() or "127.0.0.1:9" in t.status.text()
    finally:
        ctx.orch.remove_server("gone").result(60)


def test_the_ui_node_runs_converted_for_its_server(ui_node: Any, frontend_server: str, qtbot: Any) -> None:
    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.run_state import RunStatus

    ctx = current_context(create=False)
    ctx.runner.run_nodes([ui_node])
    qtbot.waitUntil(lambda: ui_node.run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.SAVED), timeout=W)
    assert ui_node.run.status is not RunStatus.FAILED, ui_node.run.message
    assert ui_node.run.server == frontend_server and any(ui_node.run.outputs.values())
