"""A window that never freezes (issue 10 figures, issue 11 charts) and two canvas defects (issue 10
item 9): charts create their curves once and skip redraws while hidden, node redraws are coalesced
and re-lay out a node only when its size changes, Ryven's ports are cached, no stray window after
the node search, no removeAt warning. No timed assertions."""
from __future__ import annotations

import time

import pytest

from .test_gui import flow_nodes


def _samples(panel, servers=3, points=20):
    now = time.time()
    panel.store.add({f"s{k}": {f: [(now - 60 + i, float(i + k)) for i in range(points)]
                               for f in ("jobs_per_minute", "queue_ours", "ram_used")} for k in range(servers)})


# -- charts ---------------------------------------------------------------------------------------------
def test_charts_create_their_curves_once_and_only_set_data(qapp, qtbot):
    from ryven_comfy_nodes.gui_charts import CHARTS, ChartsPanel

    panel = ChartsPanel()
    qtbot.addWidget(panel)
    panel.show()
    _samples(panel)
    panel.redraw()
    qtbot.waitUntil(lambda: not panel.drawing, timeout=10_000)
    lines = sum(len(v) for v in CHARTS.values())
    assert panel.created == lines * 4  # 3 servers + the pool, per figure
    before = dict(panel.curves)
    _samples(panel)
    panel.redraw()
    qtbot.waitUntil(lambda: not panel.drawing, timeout=10_000)
    assert panel.created == lines * 4 and all(panel.curves[k] is c for k, c in before.items())
    xs, _ys = panel.curves[("jobs / min", "jobs_per_minute", "s1")].getData()
    assert xs is not None and len(xs) == 40
    panel.set_highlight("s1")
    qtbot.waitUntil(lambda: not panel.drawing, timeout=10_000)
    assert panel.highlight == "s1"
    assert panel.curves[("jobs / min", "jobs_per_minute", "s1")].opts["pen"].widthF() == 3


def test_hidden_charts_skip_redraws_until_shown(qapp, qtbot):
    from ryven_comfy_nodes.gui_charts import ChartsPanel

    panel = ChartsPanel()
    qtbot.addWidget(panel)
    now = time.time()
    panel._got({"s0": {"jobs_per_minute": [(now - 5, 1.0), (now, 2.0)]}})  # samples while hidden
    qtbot.wait(50)
    assert panel.draws == 0 and not panel.drawing
    panel.show()
    qtbot.waitUntil(lambda: panel.draws > 0 and not panel.drawing, timeout=10_000)


def test_ryven_bounds_are_computed_by_qt():
    from qtpy.QtWidgets import QGraphicsWidget
    from ryvencore_qt.src.flows.nodes.NodeItem_TitleLabel import TitleLabel
    from ryvencore_qt.src.flows.nodes.PortItem import PortItem, PortItemLabel, PortItemPin

    import ryven_comfy_nodes.gui_node  # noqa: F401  (applies it on import)

    for cls in (PortItem, PortItemPin, PortItemLabel, TitleLabel):
        assert cls.boundingRect is QGraphicsWidget.boundingRect, cls


# -- the canvas (the editor of the test session, real servers) ------------------------------------------
def _node(editor, title="blurred colour"):
    return flow_nodes(editor, title)[0]


@pytest.mark.real
def test_node_redraws_are_coalesced_and_relayout_only_on_size_change(editor, qtbot, monkeypatch):
    node = _node(editor)
    widget = node.gui.item.main_widget
    calls = {"refresh": 0, "reshape": 0}
    refresh, reshape = widget._refresh, widget._reshape

    def counted_refresh():
        calls["refresh"] += 1
        refresh()

    def counted_reshape():
        calls["reshape"] += 1
        reshape()

    monkeypatch.setattr(widget, "_refresh", counted_refresh)
    monkeypatch.setattr(widget, "_reshape", counted_reshape)
    for _burst in range(2):  # the first burst may re-lay out once (the widget got its style)
        calls.update(refresh=0, reshape=0)
        for _ in range(50):
            node.run_changed.emit()  # a burst of job events for one node
        qtbot.waitUntil(lambda: calls["refresh"] == 1 and not widget._pending, timeout=5000)
        qtbot.wait(300)
        assert calls["refresh"] == 1
    assert calls["reshape"] == 0  # the same content again: no relayout


@pytest.mark.real
def test_node_grows_and_shrinks_with_its_status_without_rebuilding(editor, qtbot):
    node = _node(editor, "invert image")
    item = node.gui.item
    buttons = len([c for c in item.childItems() if type(c).__name__ == "NodeItem_CollapseButton"])
    start = item.boundingRect().height()
    node.mark_failed("a long reason " * 40)  # several lines of status
    qtbot.waitUntil(lambda: item.boundingRect().height() > start, timeout=5000)
    grown = item.boundingRect().height()
    node.mark_failed("short")
    qtbot.waitUntil(lambda: item.boundingRect().height() < grown, timeout=5000)
    # a reshape no longer rebuilds the node's layout (a new header and collapse button each time)
    assert len([c for c in item.childItems() if type(c).__name__ == "NodeItem_CollapseButton"]) == buttons


@pytest.mark.real
def test_ports_are_cached_and_their_containers_draw_nothing(editor):
    from qtpy.QtWidgets import QGraphicsItem, QGraphicsView

    item = _node(editor).gui.item
    for port in item.inputs:
        assert port.pin.cacheMode() == QGraphicsItem.DeviceCoordinateCache
        assert port.label.cacheMode() == QGraphicsItem.DeviceCoordinateCache
        assert port.flags() & QGraphicsItem.ItemHasNoContents
    assert item.flow_view.viewportUpdateMode() == QGraphicsView.MinimalViewportUpdate
    # the main widget is drawn from a pixmap too, and a node's body lets Qt skip it when not exposed
    assert item.widget.main_widget_proxy.cacheMode() == QGraphicsItem.DeviceCoordinateCache
    assert item.widget.flags() & QGraphicsItem.ItemClipsChildrenToShape


@pytest.mark.real
def test_collapsing_and_expanding_leaves_one_header_in_the_scene(editor, qtbot):
    item = _node(editor, "invert image").gui.item

    def shown_buttons():
        return [c for c in item.scene().items() if type(c).__name__ == "NodeItem_CollapseButton"
                and c.parentItem() is not None and c.parentItem().parentItem() is item.widget and c.isVisible()]

    for _ in range(3):
        item.collapse()
        qtbot.wait(10)
        item.expand()
    qtbot.wait(50)  # the replaced parts are deleted on the next turn
    assert shown_buttons() == [item.widget.collapse_button]
    assert item.widget.title_label.isVisible() and item.widget.title_label.parentItem() is item.widget.header_widget


@pytest.mark.real
def test_no_stray_window_after_the_node_search(editor, qapp, qtbot):
    from qtpy.QtCore import QPoint

    def windows():
        return {w for w in qapp.topLevelWidgets()
                if w.isVisible() and w.graphicsProxyWidget() is None and w is not editor}

    before = windows()
    view = _node(editor).gui.item.flow_view
    view.show_place_node_widget(QPoint(200, 200))
    search = view._node_list_widget.search_line_edit
    for text in ("t", "te", "tex", "text", "", "blur"):  # typed faster than the event loop turns
        search.setText(text)
    qtbot.wait(100)
    view.hide_node_list_widget()
    qtbot.wait(100)
    assert windows() - before == set()


@pytest.mark.real
def test_no_remove_at_warning_when_collapsing_expanding_and_running(editor, specs, qtbot):
    from qtpy.QtCore import qInstallMessageHandler

    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.workflow_node import WorkflowNode

    from .test_gui import wait_run

    seen: list[str] = []
    previous = qInstallMessageHandler(lambda _mode, _ctx, msg: seen.append(msg))
    try:
        for n in flow_nodes(editor):
            n.gui.item.collapse()
            qtbot.wait(10)
            n.gui.item.expand()
        run = current_context().runner.run_nodes([n for n in flow_nodes(editor) if isinstance(n, WorkflowNode)])
        wait_run(qtbot, run)
        qtbot.wait(200)  # the last redraws
    finally:
        qInstallMessageHandler(previous)
    assert not [m for m in seen if "removeAt" in m], seen


def test_one_failing_node_redraw_does_not_stop_the_others(qapp, qtbot, caplog):
    from types import SimpleNamespace

    from ryven_comfy_nodes.gui_node import RefreshQueue

    drawn: list[str] = []

    class Widget:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.node, self.fail = SimpleNamespace(title=name), fail

        def _refresh_now(self) -> bool:
            if self.fail:
                raise ValueError("a bug in this node's redraw")
            drawn.append(self.node.title)
            return False

    queue = RefreshQueue()
    for w in (Widget("a"), Widget("bad", fail=True), Widget("c")):
        queue.add(w)  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: drawn == ["a", "c"], timeout=10_000)
    queue.add(Widget("later"))  # type: ignore[arg-type]  # the queue still runs afterwards
    qtbot.waitUntil(lambda: drawn == ["a", "c", "later"], timeout=10_000)
    assert "redrawing node 'bad' failed" in caplog.text
