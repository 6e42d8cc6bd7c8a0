"""GUIs of the utility nodes: value editors that start from the port's value, file chooser, previews, save status."""
from __future__ import annotations

import json
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox, QFileDialog, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget
from ryven.gui_env import NodeGUI, NodeInputWidget, NodeMainWidget, node_gui
from ryvencore import Data

from .gui_inspector import UtilityInspector
from .gui_media import ThumbStrip
from .gui_node import reshape
from .gui_widgets import without_status_word
from .utility_nodes import ImageFileNode, NumberNode, PreviewNode, SaveOutputsNode, SeedNode, TextNode
from .values import refs_of


def _payload(inp: Any) -> Any:
    return None if inp.default is None else inp.default.payload


class LineInput(NodeInputWidget, QLineEdit):
    """Text or number typed in; numbers and true/false are parsed as JSON, anything else stays text."""

    parse_json = True

    def __init__(self, params: Any) -> None:
        NodeInputWidget.__init__(self, params)
        QLineEdit.__init__(self)
        self.setMinimumWidth(120)
        v = _payload(self.input)
        self.show_text("" if v is None else str(v))
        self.editingFinished.connect(self._commit)

    def show_text(self, text: str) -> None:
        """Show ``text`` from its start (``setText`` leaves the cursor at the end, and a text longer
        than the box was shown cut at its left)."""
        self.setText(text)
        self.setCursorPosition(0)

    def _commit(self) -> None:
        text = self.text()
        value: Any = text
        if self.parse_json:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = text
        if value != _payload(self.input):
            self.update_node_input(Data(value))

    def val_update_event(self, val: Any) -> None:
        self.show_text("" if val is None or val.payload is None else str(val.payload))


class TextInput(LineInput):
    parse_json = False


class CheckInput(NodeInputWidget, QCheckBox):
    def __init__(self, params: Any) -> None:
        NodeInputWidget.__init__(self, params)
        QCheckBox.__init__(self)
        self.setChecked(bool(_payload(self.input)))
        self.toggled.connect(lambda on: self.update_node_input(Data(bool(on))))


def _gui(node_cls: type, color: str, widgets: dict[int, tuple[type, str]], **attrs: Any) -> type[NodeGUI]:
    names = {f"w{i}": cls for i, (cls, _) in widgets.items()}
    init = {i: {"name": f"w{i}", "pos": pos} for i, (_, pos) in widgets.items()}
    gui = type(f"{node_cls.__name__}Gui", (NodeGUI,), {
        "input_widget_classes": names, "init_input_widgets": init, "color": color,
        # our inspector: the node's title, what it does and its values (never Ryven's internal ids)
        "inspector_widget_class": UtilityInspector, "wrap_inspector_in_default": False, **attrs})
    node_gui(node_cls)(gui)
    return gui


class ImageFileWidget(NodeMainWidget, QWidget):
    def __init__(self, params: Any) -> None:
        NodeMainWidget.__init__(self, params)
        QWidget.__init__(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Choose image…")
        button.clicked.connect(self.choose)
        lay.addWidget(button)

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Image file", "", "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        if path:
            self.node.inputs[0].default = Data(path)
            self.node.update()
            item = self.node_item.inputs[0].widget if self.node_item is not None else None
            if item is not None:
                item.show_text(path)


class PreviewWidget(NodeMainWidget, QWidget):
    def __init__(self, params: Any) -> None:
        NodeMainWidget.__init__(self, params)
        QWidget.__init__(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("nothing yet")
        lay.addWidget(self.label)
        self.thumbs = ThumbStrip(changed=lambda: QTimer.singleShot(0, self._reshape))
        lay.addWidget(self.thumbs)
        self.node.shown.sub(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        try:
            value = self.node.value
            kind = value.get("kind", "image") if isinstance(value, dict) else "image"
            refs = refs_of(value)
            self.label.setText(f"{len(refs)} file(s)" if refs else "nothing yet")
            self.thumbs.show_refs([(r, kind) for r in refs])
            reshape(self)
        except RuntimeError:
            self.node.shown.unsub(self.refresh)

    def _reshape(self) -> None:
        try:
            reshape(self)
        except RuntimeError:  # deleted before the deferred reshape
            pass


class SaveWidget(NodeMainWidget, QLabel):
    def __init__(self, params: Any) -> None:
        NodeMainWidget.__init__(self, params)
        QLabel.__init__(self)
        self.setWordWrap(True)
        self.setMaximumWidth(260)
        self.node.status_changed.sub(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        try:
            shown = without_status_word(self.node.status.value, self.node.message)
            msg = f" — {shown}" if shown else ""
            self.setText(f"<b>{self.node.status.value}</b>{msg}")
            reshape(self)
        except RuntimeError:
            self.node.status_changed.unsub(self.refresh)


def register_utility_guis() -> None:
    _gui(TextNode, "#a3a3a3", {0: (TextInput, "besides")})
    _gui(NumberNode, "#a3a3a3", {0: (LineInput, "besides")})
    _gui(SeedNode, "#a3a3a3", {0: (LineInput, "besides"), 1: (CheckInput, "besides")})
    _gui(ImageFileNode, "#22c55e", {0: (TextInput, "below")}, main_widget_class=ImageFileWidget)
    _gui(PreviewNode, "#f59e0b", {}, main_widget_class=PreviewWidget)
    _gui(SaveOutputsNode, "#f59e0b", {1: (TextInput, "besides")}, main_widget_class=SaveWidget)
