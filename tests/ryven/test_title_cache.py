"""Node titles drawn from a cached pixmap (``gui_ryven_fixes.paint_title``): drawn once per key, and a
rename always draws the new title, even one of the same width (the defect of a cache keyed on the
label's size). No timed assertions."""
from __future__ import annotations

from types import SimpleNamespace

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QImage, QPainter


class _Theme:
    name = "stub"

    def __init__(self) -> None:
        self.titles: list[str] = []

    def paint_NI_title_label(self, node_gui, selected, hovering, painter, option, style, title, colour, rect):
        self.titles.append(title)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignLeft | Qt.AlignVCenter, title)


def _label(theme: _Theme, title: str) -> SimpleNamespace:
    item = SimpleNamespace(session_design=SimpleNamespace(flow_theme=theme), color=QColor("#3b82f6"),
                           isSelected=lambda: False)
    label = SimpleNamespace(node_item=item, node_gui=None, hovering=False, title_str=title, color=QColor(30, 43, 48),
                            design_style=lambda: "normal", boundingRect=lambda: QRectF(QPointF(0, 0), QRectF(0, 0, 120, 24).size()))
    return label


def _paint(label: SimpleNamespace, scale: float = 1.0) -> QImage:
    from ryven_comfy_nodes.gui_ryven_fixes import paint_title

    img = QImage(300, 80, QImage.Format_ARGB32_Premultiplied)
    img.fill(Qt.black)
    p = QPainter(img)
    p.scale(scale, scale)
    paint_title(label, p, None)
    p.end()
    return img


def test_a_title_is_drawn_once_then_from_its_pixmap(qapp):
    theme = _Theme()
    label = _label(theme, "sampler 1")
    first = _paint(label)
    again = _paint(label)
    assert theme.titles == ["sampler 1"] and first == again
    label.hovering = True  # hover changes the drawing: drawn anew
    _paint(label)
    assert theme.titles == ["sampler 1", "sampler 1"]


def test_a_rename_to_a_title_of_the_same_width_draws_the_new_name(qapp):
    theme = _Theme()
    label = _label(theme, "sampler 1")
    before = _paint(label)
    label.title_str = "sampler 2"  # same length, same label size
    after = _paint(label)
    assert theme.titles == ["sampler 1", "sampler 2"]
    assert before != after


def test_a_zoomed_view_draws_the_title_at_its_resolution(qapp):
    theme = _Theme()
    label = _label(theme, "sampler 1")
    _paint(label, 1.0)
    _paint(label, 2.0)
    assert len(theme.titles) == 2
    assert label._rc_title[1].width() == 240  # 120 px wide at zoom 2: not a stretched 120 px pixmap
