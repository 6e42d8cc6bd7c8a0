"""Three defects of Ryven's canvas (ryvencore-qt), fixed where they happen (issue 10 items 9 and 10).

- **A stray "Text" box after the right-click node search.** Ryven's node list takes the rows a
  search no longer shows out with ``setParent(None)``; a row re-added by ``addWidget`` a moment
  before had a show queued by Qt's layout, which then shows the parentless row as a small
  top-level window (a node's name in a line edit) that stays on screen. Rows out of the list are
  now hidden explicitly (Qt's queued show leaves an explicitly hidden widget alone) and shown
  again when a search brings them back.
- **``QGraphicsLinearLayout::removeAt: invalid index 0``** (once per port): ``rebuild_ui``
  removes one layout item per port, but a collapsed node's port layouts are empty, so expanding
  it warned for each port. The layouts are now emptied by what they hold.
- **Every rebuild of a node's layout left its old header, collapse button and body in the scene**
  (invisible, but Qt walks and bounds them, in Python for the collapse button, on every repaint of
  the canvas: two extra sets per node after the first expand). They are now deleted (a body only
  once it holds no ports: a collapsed node keeps its ports there until it is expanded).

And one saving: a node's **title** is drawn from a pixmap cached on its label, keyed on what the
drawing depends on (the title text, style, colours, hover and selection, the theme, the label's size
and the view's scale): a rename or any other change of these draws it anew (a cache keyed on the
label's size alone kept the old name of a node renamed to a title of the same width). Ryven's
theme lays the text out (font lookup, shaping) on every repaint of a node otherwise.

Each fix is applied only when Ryven's function is the one it was written against (same names
used), so a Ryven version that changed keeps its own code.
"""
from __future__ import annotations

import logging
import math
from typing import Any

from qtpy.QtCore import QRectF
from qtpy.QtGui import QColor, QPainter, QPixmap
from ryvencore_qt.src.flows.node_list_widget.NodeListWidget import NodeListWidget
from ryvencore_qt.src.flows.nodes.NodeItem_TitleLabel import TitleLabel
from ryvencore_qt.src.flows.nodes.NodeItemWidget import NodeItemWidget

log = logging.getLogger(__name__)

_REBUILD_NAMES = ("enumerate", "node_item", "inputs", "inputs_layout", "removeAt", "outputs", "outputs_layout",
                  "setLayout", "resize", "minimumSize", "setup_layout", "collapsed", "add_input_to_layout",
                  "add_output_to_layout", "main_widget", "add_main_widget_to_layout")
_TITLE_PAINT_NAMES = ("node_item", "session_design", "flow_theme", "paint_NI_title_label", "node_gui",
                      "isSelected", "hovering", "design_style", "title_str", "color", "boundingRect")
#: a title bigger than this on screen (device pixels) is drawn directly (a huge zoom: no pixmap that size)
TITLE_CACHE_MAX_PX = 4096
_applied = False


def apply() -> list[str]:
    """Apply the fixes once per process; returns the names of the functions replaced."""
    global _applied
    if _applied:
        return []
    _applied = True
    done = []
    if _names(NodeItemWidget.rebuild_ui) == _REBUILD_NAMES:
        NodeItemWidget.rebuild_ui = rebuild_ui
        done.append("NodeItemWidget.rebuild_ui")
    if "setParent" in _names(NodeListWidget._update_view):
        original = NodeListWidget._update_view

        def _update_view(self: Any, search_text: str = "") -> None:
            original(self, search_text)
            hide_rows_out_of_list(self)

        NodeListWidget._update_view = _update_view
        done.append("NodeListWidget._update_view")
    if _names(TitleLabel.paint) == _TITLE_PAINT_NAMES:
        TitleLabel.paint = paint_title
        done.append("TitleLabel.paint")
    log.debug("Ryven fixes applied: %s", ", ".join(done) or "none (another Ryven version)")
    return done


def _names(fn: Any) -> tuple[str, ...]:
    code = getattr(fn, "__code__", None)
    return tuple(code.co_names) if code is not None else ()


def rebuild_ui(self: Any) -> None:
    """Ryven's ``NodeItemWidget.rebuild_ui`` with the port layouts emptied by their count and the
    replaced header, collapse button and body deleted."""
    for lay in (self.inputs_layout, self.outputs_layout):
        # out of the layouts first: setting the widget's layout to None would delete the ports
        while lay.count():
            lay.removeAt(0)
    old = [getattr(self, name, None) for name in ("collapse_button", "header_widget", "body_widget")]
    self.setLayout(None)
    self.resize(self.minimumSize())
    self.setLayout(self.setup_layout())  # a new header (the title label moves into it) and body
    for part in old:
        # a collapsed node's ports stay in its old body (out of any layout) until it is expanded: a
        # body still holding them is left alone; the old header only holds the old collapse button
        if part is not None and (part is old[0] or not part.childItems()):
            part.hide()  # deleted with the next turn of the event loop (an event may still be on its way)
            part.deleteLater()
    if self.node_item.collapsed:
        return
    for inp_item in self.node_item.inputs:
        self.add_input_to_layout(inp_item)
    for out_item in self.node_item.outputs:
        self.add_output_to_layout(out_item)
    if self.node_item.main_widget:
        self.add_main_widget_to_layout()


def hide_rows_out_of_list(node_list: Any) -> None:
    """Rows the search left out: hidden explicitly; rows in the list: shown."""
    lay = node_list.list_layout
    listed = {lay.itemAt(i).widget() for i in range(lay.count())}
    for row in node_list.node_widgets.values():
        if row in listed:
            row.show()
        elif row.parent() is None:
            row.hide()


def _draw_title(label: Any, painter: Any, option: Any, rect: QRectF) -> None:
    """What Ryven's ``TitleLabel.paint`` draws (its theme's title), into ``rect``."""
    item = label.node_item
    item.session_design.flow_theme.paint_NI_title_label(
        label.node_gui, item.isSelected(), label.hovering, painter, option,
        label.design_style(), label.title_str, item.color, rect)


def title_key(label: Any, painter: Any, rect: QRectF) -> tuple[Any, ...] | None:
    """Everything the title's drawing depends on, or None when it is not worth caching (a rotated
    or sheared view, an empty or huge label)."""
    t = painter.worldTransform()
    if t.m12() or t.m21() or t.m11() <= 0 or t.m11() != t.m22():
        return None
    scale = t.m11() * painter.device().devicePixelRatioF()
    w, h = math.ceil(rect.width() * scale), math.ceil(rect.height() * scale)
    if not (0 < w <= TITLE_CACHE_MAX_PX and 0 < h <= TITLE_CACHE_MAX_PX):
        return None
    item = label.node_item
    theme = item.session_design.flow_theme
    return (label.title_str, label.design_style(), item.isSelected(), label.hovering, item.color.rgba(),
            label.color.rgba(), id(theme), getattr(theme, "name", ""), rect.width(), rect.height(), round(scale, 4),
            painter.renderHints().value)


def paint_title(self: Any, painter: Any, option: Any, widget: Any = None) -> None:
    """Ryven's ``TitleLabel.paint`` from a pixmap drawn at the view's resolution, redrawn when its key changes."""
    rect = QRectF(self.boundingRect())
    key = title_key(self, painter, rect)
    if key is None:
        _draw_title(self, painter, option, rect)
        return
    cached = getattr(self, "_rc_title", None)
    if cached is None or cached[0] != key:
        scale = key[-2]
        pix = QPixmap(math.ceil(rect.width() * scale), math.ceil(rect.height() * scale))
        pix.fill(QColor(0, 0, 0, 0))
        p = QPainter(pix)
        try:
            p.setRenderHints(painter.renderHints())
            p.scale(scale, scale)
            _draw_title(self, p, option, QRectF(rect))  # a copy: the theme moves the rect's edges
        finally:
            p.end()
        cached = self._rc_title = (key, pix)
    painter.drawPixmap(rect, cached[1], QRectF(cached[1].rect()))
