"""Edit in ComfyUI from the Ryven editor (issue 9): push → edit in the real web UI → sync → diff → accept → undo.

Real servers (RYVEN_COMFY_REUSE_SERVERS=1), QtWebEngine offscreen; the editor window and one page are
shared by the session. Waits are for events (qtbot.waitUntil), never timed assertions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.real
SAMPLE = Path(__file__).resolve().parents[1] / "editor_bridge" / "sample_workflow.json"
W = 120_000   # ms: pages are slow to start on a loaded 2-core machine


@pytest.fixture(scope="module")
def ui_node(editor: Any) -> Any:
    from ryven_comfy_nodes.gui_editor import add_workflow_node
    from ryven_comfy_nodes.workflow_spec import TargetSpec, spec_from_prompt

    spec = spec_from_prompt(json.loads(SAMPLE.read_text()), "Web UI sample", "webui_sample")
    return add_workflow_node(editor, spec, TargetSpec(server="local1"))


@pytest.fixture(scope="module")
def tab(editor: Any, ui_node: Any, qapp: Any) -> Any:
    from pytestqt.qtbot import QtBot

    from ryven_comfy_nodes import gui_webui

    t = gui_webui.edit_in_comfyui(ui_node)
    assert t is not None and t.server_id == "local1"
    QtBot(qapp).waitUntil(lambda: t.pushed is not None or "refused" in t.status.text(), timeout=W)
    assert t.pushed is not None, t.status.text()
    return t


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
    from ryven_comfy_nodes.project_format import export_flows

    node = ui_node
    flow = node.flow
    assert node.spec.ui is not None and node.webui_state.get("server") == "local1"
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
    qtbot.waitUntil(lambda: tab.undo is not None, timeout=W)
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
    tab.undo_sync()
    assert node.spec == old_spec
    assert flow.connected_output(node.inputs[node.param_input_index("width")]) is src.outputs[0]
    flow.remove_node(src)


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


def test_the_ui_node_runs_converted_for_its_server(ui_node: Any, qtbot: Any) -> None:
    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.run_state import RunStatus

    ctx = current_context(create=False)
    ctx.runner.run_nodes([ui_node])
    qtbot.waitUntil(lambda: ui_node.run.status in (RunStatus.DONE, RunStatus.FAILED, RunStatus.SAVED), timeout=W)
    assert ui_node.run.status is not RunStatus.FAILED, ui_node.run.message
    assert ui_node.run.server == "local1" and any(ui_node.run.outputs.values())
