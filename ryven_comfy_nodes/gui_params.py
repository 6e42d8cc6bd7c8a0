"""Editors for exposed parameters: on the node's ports and in the inspector.

One factory makes the fitting editor for a parameter — text, multiline text,
int/float with bounds, combo, checkbox, seed with fixed/randomize — and writes
through ``WorkflowNode.set_value`` so the node stays the single source of values.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QDoubleValidator, QIntValidator
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)
from ryven.gui_env import NodeInputWidget

from .workflow_node import WorkflowNode
from .workflow_spec import ParamSpec, is_seed

_INT32 = 2**31 - 1


class ParamEditor(QWidget):
    """An editor for one parameter of one workflow node."""

    def __init__(self, node: WorkflowNode, param: ParamSpec, compact: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.node, self.param = node, param
        self._setting = False
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.editor, self._get, self._set = self._make(param, compact)
        lay.addWidget(self.editor)
        self.random_box: QCheckBox | None = None
        if is_seed(param):
            self.random_box = QCheckBox("random")
            self.random_box.setToolTip("draw a new seed for every run")
            self.random_box.setChecked(param.id in node.randomize)
            self.random_box.toggled.connect(self._toggle_random)
            lay.addWidget(self.random_box)
        self.refresh()

    def _make(self, p: ParamSpec, compact: bool) -> tuple[QWidget, Callable[[], Any], Callable[[Any], None]]:
        c = p.constraints
        if c.choices:
            w = QComboBox()
            w.addItems([str(x) for x in c.choices])
            w.currentIndexChanged.connect(lambda i: self._changed())
            return w, lambda: c.choices[w.currentIndex()] if w.currentIndex() >= 0 else None, \
                lambda v: w.setCurrentIndex(c.choices.index(v) if v in c.choices else -1)
        if p.type == "BOOLEAN":
            b = QCheckBox()
            b.toggled.connect(lambda _: self._changed())
            return b, b.isChecked, lambda v: b.setChecked(bool(v))
        big = c.max is None or c.max > _INT32 or (c.min is not None and c.min < -_INT32)
        if p.type == "INT" and not big and not is_seed(p):
            s = QSpinBox()
            s.setRange(int(c.min if c.min is not None else -_INT32), int(c.max))
            if c.step:
                s.setSingleStep(max(1, int(c.step)))
            s.valueChanged.connect(lambda _: self._changed())
            return s, s.value, lambda v: s.setValue(int(v or 0))
        if p.type == "FLOAT":
            d = QDoubleSpinBox()
            d.setDecimals(3)
            d.setRange(c.min if c.min is not None else -1e9, c.max if c.max is not None else 1e9)
            d.setSingleStep(c.step or 0.1)
            d.valueChanged.connect(lambda _: self._changed())
            return d, d.value, lambda v: d.setValue(float(v or 0))
        if p.type == "STRING" and (c.multiline or p.input_name in ("text", "prompt")):
            t = QPlainTextEdit()
            t.setFixedHeight(54 if compact else 110)
            t.setMinimumWidth(180)
            t.textChanged.connect(self._changed)
            return t, t.toPlainText, lambda v: t.setPlainText("" if v is None else str(v))
        line = QLineEdit()
        line.setMinimumWidth(90)
        if p.type == "INT":
            line.setValidator(QIntValidator() if not big else None)
        elif p.type == "FLOAT":
            line.setValidator(QDoubleValidator())
        line.editingFinished.connect(self._changed)

        def get() -> Any:
            text = line.text()
            if p.type == "INT":
                try:
                    return int(text)
                except ValueError:
                    return None
            return text

        return line, get, lambda v: line.setText("" if v is None else str(v))

    def refresh(self) -> None:
        """Show the node's current value."""
        self._setting = True
        try:
            self._set(self.node.values.get(self.param.id))
            if self.random_box is not None:
                self.random_box.setChecked(self.param.id in self.node.randomize)
        finally:
            self._setting = False

    def _changed(self) -> None:
        if self._setting:
            return
        value = self._get()
        if value is not None and value != self.node.values.get(self.param.id):
            self.node.set_value(self.param.id, value)

    def _toggle_random(self, on: bool) -> None:
        if self._setting:
            return
        (self.node.randomize.add if on else self.node.randomize.discard)(self.param.id)


class ParamInputWidget(NodeInputWidget, QWidget):
    """The input widget next to a parameter port of a workflow node."""

    def __init__(self, params: Any) -> None:
        NodeInputWidget.__init__(self, params)
        QWidget.__init__(self)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self._lay = lay
        self.editor = ParamEditor(self.node, self._param(), compact=True)
        lay.addWidget(self.editor)
        self.setAttribute(Qt.WA_TranslucentBackground)
        self.node.params_changed.sub(self._refresh)

    def _param(self) -> ParamSpec:
        node: WorkflowNode = self.node
        return node.spec.params[node.inputs.index(self.input) - len(node.spec.image_inputs)]

    def _refresh(self) -> None:
        try:
            param = self._param() if self.input in self.node.inputs else self.editor.param
            if (param.type, param.constraints) != (self.editor.param.type, self.editor.param.constraints):
                # the server's node definitions changed the kind of editor (bounds, a combo)
                old, self.editor = self.editor, ParamEditor(self.node, param, compact=True)
                self._lay.replaceWidget(old, self.editor)
                # hidden first: a widget deleted while visible inside a cached proxy (``gui_paint``)
                # leaves its pixels in the cache, under the new editor (numbers drawn twice)
                old.hide()
                old.deleteLater()
            else:
                self.editor.param = param
                self.editor.refresh()
        except RuntimeError:  # the Qt widget is gone (node removed)
            self.node.params_changed.unsub(self._refresh)

    def val_update_event(self, val: Any) -> None:
        """A connected upstream value arrived; the port is connected, so the editor is disabled."""
