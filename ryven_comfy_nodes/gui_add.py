"""The "Add workflow node…" dialog: name, target, and a workflow file (JSON/PNG) or a blank template."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from .context import current_context
from .workflow_spec import TargetSpec, WorkflowSpec, load_workflow_file, slug, spec_from_prompt

#: a model-free starting point that runs on any ComfyUI server
BLANK_TEMPLATE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": 0},
          "_meta": {"title": "Image"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ryven-comfy/blank"},
          "_meta": {"title": "image"}},
}


def object_info_from_a_server() -> dict[str, Any] | None:
    """``/object_info`` of a usable server, for UI-format workflows: what already arrived (never waits)."""
    ctx = current_context(create=False)
    known = ctx.node_definitions() if ctx is not None else []
    return known[0] if known else None


#: what the dialog does on OK: (name, workflow file or "", target) -> the placed node; errors are shown in the dialog
CreateNode = Callable[[str, str, TargetSpec], Any]


def default_name(path: str | Path | None) -> str:
    """A node name from a workflow file name (``blurred_colour_api.json`` -> ``blurred colour``)."""
    if not path:
        return "workflow"
    return Path(path).name.rsplit(".", 1)[0].removesuffix("_api").replace("_", " ")


class AddWorkflowDialog(QDialog):
    """Asks for a name, a file and a target; on OK calls ``create`` (see ``gui_editor.add_workflow_from_file``)."""

    def __init__(self, create: CreateNode, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add workflow node")
        self.create = create
        self.node: Any = None
        form = QFormLayout(self)
        self.name = QLineEdit()
        form.addRow("Name", self.name)
        row = QHBoxLayout()
        self.file = QLineEdit()
        self.file.setPlaceholderText("empty: a blank template (EmptyImage → SaveImage)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.file)
        row.addWidget(browse)
        form.addRow("Workflow file", row)
        self.target_box = QComboBox()
        self.target_box.addItem("auto (scheduler)", None)
        ctx = current_context(create=False)
        for sid in sorted(ctx.servers) if ctx else []:
            self.target_box.addItem(f"server {sid}", sid)
        form.addRow("Run on", self.target_box)
        self.error = QLabel()
        self.error.setStyleSheet("color:#f87171")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Workflow", "", "Workflows (*.json *.png *.webp)")
        if path:
            self.file.setText(path)
            if not self.name.text():
                self.name.setText(default_name(path))

    def target(self) -> TargetSpec:
        sid = self.target_box.currentData()
        return TargetSpec(server=sid) if sid else TargetSpec()

    def _accept(self) -> None:
        try:
            self.node = self.create(self.name.text().strip(), self.file.text().strip(), self.target())
        except Exception as exc:
            self.error.setText(str(exc))
            return
        self.accept()


def build_spec(name: str, path: str | Path | None) -> WorkflowSpec:
    """A spec from a file or the blank template (no file), named ``name`` (default: from the file name).

    The node keeps a UI workflow as it is; the node definitions a connected server already sent
    (the GUI thread does not wait for them) name its fields, so the usual parameters are suggested.
    """
    name = name or default_name(path)
    if not path:
        return spec_from_prompt(BLANK_TEMPLATE, name, slug(name))
    return load_workflow_file(path, title=name, object_info=object_info_from_a_server())
