"""The cases of ``test_editor_window`` (see its docstring): run only in a pytest process of their
own, started by that test (Ryven's main window is one per process). Not collected otherwise: the
file name does not match ``test_*.py``; pytest collects it when it is named on the command line.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import CPU_PROJECT

WINDOW = (1500, 900)


@pytest.fixture(scope="module")
def window(qapp):
    """A fresh editor over no server with the CPU example, at 1500×900, as ``ryven-comfy editor`` opens it."""
    os.environ["QT_API"] = "pyside6"
    from comfy_backend import ServersConfig
    from ryven_comfy_nodes.launcher import create_editor

    ed = create_editor(ServersConfig(servers=[]), CPU_PROJECT, app=qapp)
    ed.resize(*WINDOW)
    yield ed
    from ryven_comfy_nodes.context import current_context

    ed._ryven_comfy["close_guard"].ask = False
    ctx = current_context(create=False)
    if ctx is not None:
        ctx.dispatcher.stop()
        ctx.close()


def _node(editor, title):
    return next(n for n in editor.get_current_flow().nodes if n.title == title)


def _all_in_view(editor) -> bool:
    from ryven_comfy_nodes import gui_layout

    view = gui_layout.flow_view(editor)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    return all(visible.contains(n.gui.item.sceneBoundingRect()) for n in editor.get_current_flow().nodes)


def test_inner_flow_is_fitted_into_view_when_the_editor_opens(window, qtbot):
    """Ryven shows its window itself: no Show event comes after ours is installed, yet the flow is fitted."""
    assert window.isVisible()
    qtbot.waitUntil(lambda: _all_in_view(window), timeout=10_000)
    assert len(window.get_current_flow().nodes) >= 5


def test_inner_loaded_nodes_stay_inside_the_scene_however_tall(window, qtbot):
    from ryven_comfy_nodes import gui_editor
    from ryven_comfy_nodes.workflow_spec import settable_fields

    blurred = _node(window, "blurred colour")
    fields = settable_fields(blurred.spec.workflow)
    extra = [f.model_copy(update={"id": f"{f.id}_{i}", "label": f"{f.label} {i}"}) for i in range(8) for f in fields]
    from ryven_comfy_nodes.project_format import load_orchestrator, save_orchestrator

    data = load_orchestrator(CPU_PROJECT)
    entry = data.flows[0]
    tall = next(n for n in entry.nodes if n.kind == "workflow")
    tall.spec = tall.spec.model_copy(update={"params": tall.spec.params + extra})
    entry.title = "tall"
    path = Path(os.environ["RYVEN_COMFY_AUTOSAVE_DIR"]) / "tall.orchestrator.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data.flows = [entry]
    save_orchestrator(data, path)
    flow = window.get_current_flow()
    nodes = gui_editor.import_orchestrator(window, path)  # into the current flow, beside the example
    try:
        assert max(n.gui.item.sceneBoundingRect().height() for n in nodes) > 600  # taller than the old rule allowed
        for n in nodes:
            r = n.gui.item.sceneBoundingRect()
            assert r.top() >= gui_editor.SCENE_MARGIN - 1 and r.left() >= gui_editor.SCENE_MARGIN - 1, (n.title, r)
    finally:
        for n in nodes:
            flow.remove_node(n)


def test_inner_long_error_is_above_the_progress_bar_and_status_words_not_doubled(window, qtbot):
    from ryven_comfy_nodes.utility_nodes import SaveOutputsNode

    invert = _node(window, "invert image")
    long_error = ("execution failed on local2: node 7 (KSampler): Allocation on device 0 would exceed allowed "
                  "memory (out of memory). Currently allocated: 7.61 GiB, requested 1.50 GiB")
    invert.mark_pending()
    invert.mark_starting(False)
    invert.mark_queued("job-x")
    invert.mark_failed(long_error, "local2")
    mw = invert.gui.item.main_widget
    qtbot.waitUntil(lambda: mw.copy_button.isVisibleTo(mw), timeout=10_000)
    qtbot.waitUntil(lambda: mw.status.height() >= mw.status.heightForWidth(mw.status.width()), timeout=10_000)
    assert mw.status.geometry().bottom() < mw.progress.geometry().top()  # nothing drawn under the bar
    assert mw.size().width() >= mw.sizeHint().width()  # "Edit in ComfyUI" (last in its row) not cut
    save = next(n for n in window.get_current_flow().nodes if isinstance(n, SaveOutputsNode))
    save.mark_pending()
    save.mark_blocked("blocked: upstream 'invert image' failed")
    text = save.gui.item.main_widget.text()
    assert text.count("blocked") == 1 and "upstream 'invert image' failed" in text


def test_inner_inspectors_fit_their_dock_and_never_show_ryvens_ids(window, qtbot):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QWidget

    from ryven_comfy_nodes import gui_layout

    view = gui_layout.flow_view(window)
    for title in ("blurred colour", "Save outputs", "Number", "Preview"):
        node = _node(window, title)
        view.select_items([node.gui.item])
        insp = node.gui.inspector_widget
        qtbot.waitUntil(lambda i=insp: i.isVisible() and i.scroll.viewport().width() > 100, timeout=5_000)
        body, port = insp.scroll.widget(), insp.scroll.viewport()
        assert body.minimumSizeHint().width() <= port.width(), title
        cut = [w for w in body.findChildren(QWidget)
               if w.isVisible() and w.mapTo(body, w.rect().topRight()).x() >= port.width()]
        assert not cut, (title, [(type(w).__name__, getattr(w, "text", lambda: "")()) for w in cut])
        shown = " ".join(w.text() for w in body.findChildren(QWidget) if hasattr(w, "text") and
                         isinstance(w.text(), str))
        assert "pyid" not in shown and f"id: {node.global_id}" not in shown, title
    # the buttons stack rather than being cut when the dock is narrow
    blurred = _node(window, "blurred colour")
    view.select_items([blurred.gui.item])
    flow_ui = window.flow_UIs[window.get_current_flow()]
    flow_ui.resizeDocks([flow_ui.ui.inspector_dock], [240], Qt.Horizontal)
    insp = blurred.gui.inspector_widget
    qtbot.waitUntil(lambda: insp.scroll.viewport().width() < 300, timeout=5_000)
    body = insp.scroll.widget()
    qtbot.waitUntil(lambda: body.width() <= insp.scroll.viewport().width(), timeout=5_000)
    flow_ui.resizeDocks([flow_ui.ui.inspector_dock], [gui_layout.INSPECTOR_WIDTH], Qt.Horizontal)


def test_inner_context_menu_actions_survive_save_and_load(window, qtbot):
    from qtpy.QtWidgets import QMenu

    blurred = _node(window, "blurred colour")
    flow = window.get_current_flow()
    data = window.core_session.complete_data(blurred.data())  # what Ryven saves (project files, copy and paste)
    assert data["actions"]["Edit in ComfyUI"]["method"] == "<lambda>"  # why load() must not take them
    (copy,), _ = flow.load_components([data], [], [])
    try:
        actions = copy.gui.actions
        for key in ("run", "retry", "Edit in ComfyUI", "Save workflow to server…", "Load workflow from server…",
                    "update shape", "change title"):
            assert callable(actions[key]["method"]), key
        assert copy.gui.actions["Edit in ComfyUI"]["method"] is not blurred.gui.actions["Edit in ComfyUI"]["method"]
        menu = QMenu()
        entries = copy.gui.item.get_actions(actions, menu)
        assert {"run", "Edit in ComfyUI"} <= {a.text() for a in entries}
    finally:
        flow.remove_node(copy)


def test_inner_a_replaced_parameter_editor_leaves_no_ghost(window, qtbot):
    """Server definitions turn a line edit into a spin box: the old editor is hidden before it goes
    (a visible widget deleted inside a cached proxy stayed drawn under its successor)."""
    blurred = _node(window, "blurred colour")
    port_widget = blurred.gui.item.inputs[len(blurred.spec.image_inputs)].widget
    old = port_widget.editor
    params = [p.model_copy(update={"constraints": p.constraints.model_copy(update={"min": 16, "max": 4096})})
              if p.type == "INT" else p for p in blurred.spec.params]
    spec = blurred.spec
    blurred.spec = spec.model_copy(update={"params": params})
    blurred.params_changed.emit()
    assert port_widget.editor is not old
    assert old.isHidden()
    blurred.spec = spec
    blurred.params_changed.emit()
