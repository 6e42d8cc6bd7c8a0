"""Inspector of a workflow node: target, exposed parameters (editable) and every settable field to expose."""
from __future__ import annotations

import html
import inspect
import re
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from ryven.gui_env import NodeInspectorWidget

from . import gui_webui
from .context import current_context
from .gui_params import ParamEditor
from .gui_widgets import FlowLayout, without_status_word
from .workflow_node import WorkflowNode
from .workflow_spec import node_heading, settable_fields

#: the inspector's buttons, whatever their class (the theme draws push and tool buttons apart)
BUTTON_STYLE = ("QPushButton,QToolButton{text-transform:none;font-size:12px;padding:3px 10px;height:22px;"
                "min-height:22px;max-height:22px;border:1px solid #448aff;border-radius:4px;"
                "color:palette(text);background:transparent}"
                "QPushButton:hover,QToolButton:hover{background:rgba(68,138,255,50)}"
                "QPushButton:pressed,QToolButton:pressed{background:rgba(68,138,255,100)}"
                "QPushButton:disabled,QToolButton:disabled{color:gray;border-color:gray}")


def scroll_body(widget: QWidget) -> tuple[QScrollArea, QWidget, QVBoxLayout]:
    """A scroll area filling ``widget`` (vertical only) and the body inside it, with its layout:
    whatever the inspector holds, it never grows the window and never scrolls sideways."""
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    scroll.setFrameShape(QScrollArea.NoFrame)
    outer.addWidget(scroll)
    body = QWidget()
    scroll.setWidget(body)
    widget.setMinimumSize(0, 0)
    widget.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
    return scroll, body, QVBoxLayout(body)


def form(parent: QWidget | None = None) -> QFormLayout:
    """A form whose long rows put the field under its label when the inspector is narrow."""
    f = QFormLayout(parent) if parent is not None else QFormLayout()
    f.setRowWrapPolicy(QFormLayout.WrapLongRows)
    f.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    return f


def shrinkable(combo: QComboBox) -> None:
    """A combo box as narrow as the inspector, however long its entries (shown whole in its list)."""
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)


def alike_buttons(box: QWidget) -> QWidget:
    """The buttons of ``box`` (a row) drawn alike, in rows that wrap when the inspector is narrow."""
    old = box.layout()
    buttons = [old.itemAt(i).widget() for i in range(old.count()) if old.itemAt(i).widget() is not None]
    while old.count():
        old.takeAt(0)  # emptied first: the widgets stay the box's children
    QWidget().setLayout(old)  # the only way to drop a widget's layout: hand it to a throw-away widget
    flow = FlowLayout(box)
    for b in buttons:
        flow.addWidget(b)
    box.setStyleSheet(BUTTON_STYLE)
    return box


class WorkflowInspector(NodeInspectorWidget, QWidget):
    def __init__(self, params: Any) -> None:
        NodeInspectorWidget.__init__(self, params)
        QWidget.__init__(self)
        self.node: WorkflowNode
        # everything scrolls inside the inspector: a node with many fields never grows the window
        self.scroll, body, lay = scroll_body(self)
        self.title = QLabel()
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.target = QComboBox()
        self.target.setToolTip("where this node's jobs run")
        self.target.activated.connect(self._target_chosen)
        shrinkable(self.target)
        tform = form()
        tform.addRow("Run on", self.target)
        lay.addLayout(tform)
        lay.addWidget(alike_buttons(gui_webui.node_buttons(self.node)))  # Edit in ComfyUI, server store (issue 9)
        self.params_box = QGroupBox("Parameters")
        self.params_form = form(self.params_box)
        lay.addWidget(self.params_box)
        # a group box's title never wraps: a short one, the explanation in a label that does
        fields_box = QGroupBox("Fields")
        fl = QVBoxLayout(fields_box)
        hint = QLabel("Check a field to expose it as a port of the node.")
        hint.setWordWrap(True)
        fl.addWidget(hint)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter fields…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        fl.addWidget(self.filter)
        self.fields = QListWidget()
        self.fields.setMinimumHeight(160)
        self.fields.setWordWrap(True)  # long field names wrap: nothing scrolls sideways
        self.fields.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.fields.setResizeMode(QListWidget.Adjust)
        self.fields.itemChanged.connect(self._field_toggled)
        fl.addWidget(self.fields)
        lay.addWidget(fields_box)
        self.editors: dict[str, ParamEditor] = {}
        self._filling = False
        self.node.params_changed.sub(self._params_changed)
        self.rebuild()

    def load(self) -> None:
        self.rebuild()

    # -- building -------------------------------------------------------------------------------
    def rebuild(self) -> None:
        node = self.node
        self.title.setText(f"<b>{node.title}</b> — {node.spec.node_count} ComfyUI nodes")
        self._fill_targets()
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.editors = {}
        for p in node.spec.params:
            ed = ParamEditor(node, p, compact=False)
            for combo in ed.findChildren(QComboBox):
                shrinkable(combo)  # a long choice (a model file name) would widen the whole inspector
            self.editors[p.id] = ed
            self.params_form.addRow(p.label, ed)
        self._filling = True
        try:
            self.fields.clear()
            exposed = {(p.node_id, p.input_name) for p in node.spec.params}
            ctx = current_context(create=False)
            infos = ctx.node_definitions(node.target.server) if ctx is not None else []
            group = None
            for f in settable_fields(node.spec.workflow, infos[0] if infos else None):
                if f.node_id != group:  # one heading per ComfyUI node: its title and class
                    group = f.node_id
                    title, class_type = node_heading(node.spec, f.node_id)
                    head = QListWidgetItem(f"#{f.node_id} {title} ({class_type})")
                    head.setFlags(Qt.ItemIsEnabled)  # not selectable, not checkable, not greyed
                    head.setData(Qt.UserRole + 1, f.node_id)
                    font = head.font()
                    font.setBold(True)
                    head.setFont(font)
                    self.fields.addItem(head)
                item = QListWidgetItem(f"  {f.input_name}  = {f.default!r}"[:90])
                item.setToolTip(f.label)
                item.setData(Qt.UserRole, f)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if (f.node_id, f.input_name) in exposed else Qt.Unchecked)
                self.fields.addItem(item)
        finally:
            self._filling = False
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str) -> None:
        """Show the fields (and their node headings) whose label contains ``text``."""
        needle = text.strip().lower()
        heading = None
        any_shown = False
        for i in range(self.fields.count()):
            item = self.fields.item(i)
            f = item.data(Qt.UserRole)
            if f is None:  # a heading: shown when one of its fields is
                if heading is not None:
                    heading.setHidden(not any_shown)
                heading, any_shown = item, False
                continue
            hit = not needle or needle in f.label.lower() or needle in str(f.default).lower()
            item.setHidden(not hit)
            any_shown = any_shown or hit
        if heading is not None:
            heading.setHidden(not any_shown)
    def _fill_targets(self) -> None:
        self.target.clear()
        self.target.addItem("auto (scheduler)", None)
        ctx = current_context(create=False)
        servers = sorted(ctx.servers) if ctx is not None else []
        tags = sorted({t for s in (ctx.servers.values() if ctx else []) for t in s.tags})
        cur = self.node.target
        if cur.server and cur.server not in servers:
            servers.append(cur.server)
        for sid in servers:
            self.target.addItem(f"server {sid}", ("server", sid))
        for tag in tags:
            self.target.addItem(f"tag {tag}", ("tag", tag))
        want = ("server", cur.server) if cur.server else (("tag", cur.tags[0]) if cur.tags else None)
        idx = self.target.findData(want)
        self.target.setCurrentIndex(max(idx, 0))

    # -- edits ------------------------------------------------------------------------------------
    def _target_chosen(self, index: int) -> None:
        data = self.target.itemData(index)
        t = self.node.target
        t.server, t.tags = None, []
        if data and data[0] == "server":
            t.server = data[1]
        elif data and data[0] == "tag":
            t.tags = [data[1]]
        self.node.redraw()  # the node's status line shows the target

    def _field_toggled(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        f = item.data(Qt.UserRole)
        if item.checkState() == Qt.Checked:
            self.node.expose(f)
        else:
            p = self.node.spec.param_at(f.node_id, f.input_name)
            if p is not None:
                self.node.unexpose(p.id)

    def _params_changed(self) -> None:
        try:
            shown = [(p.id, p.type, p.constraints) for p in (e.param for e in self.editors.values())]
            if [(p.id, p.type, p.constraints) for p in self.node.spec.params] != shown:
                self.rebuild()
            else:
                for ed in self.editors.values():
                    ed.refresh()
        except RuntimeError:  # the widget is gone
            self.node.params_changed.unsub(self._params_changed)


class UtilityInspector(NodeInspectorWidget, QWidget):
    """Inspector of a utility node (Text, Number, Preview, Save outputs…): what it is, what it
    does, its input values and, for Save outputs, what it did — never Ryven's internal ids."""

    def __init__(self, params: Any) -> None:
        NodeInspectorWidget.__init__(self, params)
        QWidget.__init__(self)
        self.scroll, _, lay = scroll_body(self)
        self.title = QLabel()
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.about = QLabel()
        self.about.setWordWrap(True)
        lay.addWidget(self.about)
        self.values = QLabel()
        self.values.setWordWrap(True)
        self.values.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.values)
        lay.addStretch(1)
        self.load()

    def load(self) -> None:
        """Show the node as it is now (Ryven calls this each time the node is selected)."""
        node = self.node
        self.title.setText(f"<b>{html.escape(node.title)}</b>")
        doc = inspect.cleandoc(type(node).__doc__ or "").replace("``", "")
        self.about.setText(html.escape(doc.split("\n\n")[0].replace("\n", " ")))
        self.about.setVisible(bool(doc))
        rows = []
        for inp in node.inputs:
            label = html.escape(getattr(inp, "label_str", "") or "input")
            if node.flow.connected_output(inp) is not None:
                value = "<i>connected</i>"
            else:
                payload = None if inp.default is None else inp.default.payload
                value = html.escape(breakable(_short(payload)))
            rows.append(f"<b>{label}</b>: {value}")
        status = getattr(node, "status", None)
        if status is not None and hasattr(status, "value"):
            message = without_status_word(status.value, getattr(node, "message", ""))
            rows.append(f"<b>status</b>: {html.escape(status.value)}"
                        + (f" — {html.escape(breakable(message))}" if message else ""))
        for path in getattr(node, "saved", None) or []:
            rows.append(f"saved <code>{html.escape(breakable(path))}</code>")
        self.values.setText("<br>".join(rows))
        self.values.setVisible(bool(rows))


def breakable(text: str, run: int = 30) -> str:
    """``text`` with invisible break points after path separators and inside long unbroken runs:
    a word-wrapped label cannot break a long path, and would widen the inspector to hold it."""
    text = re.sub(r"([/\\])", "\\1\u200b", text)
    return re.sub(rf"([^\s\u200b]{{{run}}})(?=[^\s\u200b])", "\\1\u200b", text)


def _short(value: Any, limit: int = 200) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
