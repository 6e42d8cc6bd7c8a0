"""Small pieces of our node GUIs: a word-wrapped label sized at its real width, status text
without a doubled status word, context-menu actions that survive Ryven's save and load, a flow
layout (rows that wrap)."""
from __future__ import annotations

from typing import Any

from qtpy.QtCore import QPoint, QRect, QSize, Qt
from qtpy.QtWidgets import QLabel, QLayout, QLayoutItem, QWidget
from ryven.gui_env import NodeGUI


class WrapLabel(QLabel):
    """A word-wrapped label whose height is computed at the width it really gets.

    A layout asks its word-wrapped items for their height at the layout's whole width; a label
    narrower than that (a maximum or fixed width) then got the height of fewer, longer lines and
    its last lines were drawn under the widget below it (a long error under the progress bar).
    """

    def __init__(self, max_width: int) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setMaximumWidth(max_width)

    def heightForWidth(self, width: int) -> int:
        return super().heightForWidth(min(width, self.maximumWidth()))


def without_status_word(status: str, message: str) -> str:
    """``message`` without a leading "<status>:" (shown after the status word already: no
    "blocked — blocked: upstream …")."""
    head, sep, rest = message.partition(":")
    return rest.strip() if sep and head.strip().lower() == status.lower() else message


#: the context-menu entries Ryven itself builds and serialises by method name (they load back)
RYVEN_ACTIONS = frozenset({"update shape", "hide unconnected ports", "show unconnected ports", "change title"})


class KeepActions(NodeGUI):
    """A node GUI whose own context-menu entries survive a save and load.

    Ryven saves a node's actions by their method's ``__name__`` and, on load, replaces the actions
    built in ``__init__`` by the methods of those names: ours are closures ("<lambda>"), which came
    back as that string and broke the menu. Only Ryven's own entries are taken from the saved data
    (their state, e.g. ports hidden); ours stay those just built for this node.
    """

    def load(self, data: dict[str, Any]) -> None:
        ours = {k: v for k, v in self.actions.items() if k not in RYVEN_ACTIONS}
        data = dict(data)
        for key in ("actions", "special actions"):  # the latter: Ryven's older name
            if isinstance(data.get(key), dict):
                data[key] = {k: v for k, v in data[key].items() if k in RYVEN_ACTIONS}
        super().load(data)
        self.actions.update(ours)


class FlowLayout(QLayout):
    """Widgets left to right, wrapping to a new row when the width runs out (Qt's flow layout
    example): a row of buttons in a narrow dock stacks instead of being cut at the right."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setContentsMargins(0, 0, 0, 0)
        self.setSpacing(spacing)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        """As narrow as the widest item: the rest wraps."""
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _arrange(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, row_height = area.x(), area.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint().boundedTo(QSize(area.width(), 1 << 20))
            if x > area.x() and x + hint.width() > area.right() + 1:  # wrap
                x, y, row_height = area.x(), y + row_height + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            row_height = max(row_height, hint.height())
        return y + row_height - rect.y() + m.bottom()
