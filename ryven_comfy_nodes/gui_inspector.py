"""Inspector of a workflow node: target, exposed parameters (editable) and every settable field to expose."""
from __future__ import annotations

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
from .workflow_node import WorkflowNode
from .workflow_spec import node_heading, settable_fields


class WorkflowInspector(NodeInspectorWidget, QWidget):
    def __init__(self, params: Any) -> None:
        NodeInspectorWidget.__init__(self, params)
        QWidget.__init__(self)
        self.node: WorkflowNode
        # everything scrolls inside the inspector: a node with many fields never grows the window
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        self.setMinimumSize(0, 0)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        lay = QVBoxLayout(body)
        self.title = QLabel()
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.target = QComboBox()
        self.target.setToolTip("where this node's jobs run")
        self.target.activated.connect(self._target_chosen)
        tform = QFormLayout()
        tform.addRow("Run on", self.target)
        lay.addLayout(tform)
        lay.addWidget(gui_webui.node_buttons(self.node))  # Edit in ComfyUI, server workflow store (issue 9)
        self.params_box = QGroupBox("Parameters")
        self.params_form = QFormLayout(self.params_box)
        lay.addWidget(self.params_box)
        fields_box = QGroupBox("Fields (check one to expose it as a port)")
        fl = QVBoxLayout(fields_box)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter fields…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        fl.addWidget(self.filter)
        self.fields = QListWidget()
        self.fields.setMinimumHeight(160)
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
