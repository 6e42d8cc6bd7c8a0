"""Sync from the web UI to a node: the re-bind dialog, the replacement, its undo; the server's workflow store.

The dialog shows how the node's exposed parameters fare in the edited workflow (kept / moved /
broken, a choice per broken one: re-expose at a field of the new workflow, or drop), the ports
that change and the connections that will go. Nothing changes until the user accepts; the
replacement is one step of the canvas's undo stack (:mod:`.gui_undo`): one undo puts the old one back.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QInputDialog,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from comfy_backend import ComfyBackendError, Health, WorkflowError
from comfy_backend.workflow import ExposedParameter, Field, expose, parse_json_text
from editor_bridge import PullResult, RebindDiff, pull, rebind_exposed

from . import gui_undo, respec
from .context import current_context
from .threads import when_done
from .workflow_node import WorkflowNode
from .workflow_spec import WorkflowSpec, spec_from_prompt

WebUITab = Any  # gui_webui.WebUITab (which imports this module)

log = logging.getLogger(__name__)
DROP = "drop it"


class SyncDialog(QDialog):
    """The diff of a sync; ``choices()`` gives the parameters to keep once accepted."""

    def __init__(self, node: WorkflowNode, diff: RebindDiff, make_spec: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sync '{node.title}' from the web UI")
        self.node, self.diff, self._make_spec = node, diff, make_spec
        layout = QVBoxLayout(self)
        lines = [f"<b>{diff.summary()}</b>"]
        lines += [f"kept: {b.parameter.label}" for b in diff.kept]
        lines += [f"moved: {b.parameter.label} — {b.reason}" for b in diff.moved]
        self.summary = QLabel("<br>".join(lines))
        layout.addWidget(self.summary)
        self.combos: dict[str, QComboBox] = {}
        self._fields: list[Field] = [f for f in diff.fields]
        if diff.broken:
            box = QGroupBox("Broken parameters: re-expose at a field of the new workflow, or drop")
            form = QFormLayout(box)
            for b in diff.broken:
                combo = QComboBox()
                combo.addItem(DROP)
                for f in self._fields:
                    combo.addItem(f"{f.node_title} ({f.node_id}) · {f.input_name}")
                combo.currentIndexChanged.connect(lambda _i: self._refresh_ports())
                form.addRow(QLabel(f"{b.parameter.label}: {b.reason}"), combo)
                self.combos[b.parameter.id] = combo
            layout.addWidget(box)
        self.ports = QLabel()
        self.ports.setWordWrap(True)
        layout.addWidget(self.ports)
        self.buttons = buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Accept")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._refresh_ports()

    def choose(self, param_id: str, field_key: str | None) -> None:
        """Pick for a broken parameter: a field ``node_id.input`` to re-expose at, or None to drop it."""
        combo = self.combos[param_id]
        if field_key is None:
            combo.setCurrentIndex(0)
            return
        combo.setCurrentIndex(1 + next(i for i, f in enumerate(self._fields) if f.key == field_key))

    def parameters(self) -> list[ExposedParameter]:
        """The node's parameters after the sync, in the node's order."""
        out: list[ExposedParameter] = []
        for b in self.diff.bindings:
            if b.status != "broken":
                out.append(b.parameter)
                continue
            i = self.combos[b.parameter.id].currentIndex()
            if i > 0:
                f = self._fields[i - 1]
                out.append(expose(f, label=b.parameter.label, id=b.parameter.id))
        return out

    def new_spec(self) -> WorkflowSpec:
        return self._make_spec(self.parameters())

    def _refresh_ports(self) -> None:
        try:
            plan = respec.plan(self.node, self.new_spec())
        except WorkflowError as exc:
            self.ports.setText(f"<span style='color:#c0392b'>{exc}</span>")
            return
        parts = []
        if plan.added:
            parts.append("new ports: " + ", ".join(plan.added))
        if plan.removed:
            parts.append("ports removed: " + ", ".join(plan.removed))
        if not plan.changes_ports:
            parts.append("the ports stay as they are")
        if plan.kept:
            parts.append("connections kept: " + "; ".join(w.text for w in plan.kept))
        if plan.dropped:
            parts.append("<b>connections that will go</b>: " + "; ".join(w.text for w in plan.dropped))
        self.ports.setText("<br>".join(parts))


def refuse_if_running(node: WorkflowNode, parent: QWidget | None) -> bool:
    """True (and a message) when the node's run is in progress: its workflow must not change under it."""
    if node.run.busy:
        QMessageBox.information(parent, "Sync to node",
                                f"'{node.title}' is running: sync when its run has ended (or cancel it).")
        return True
    return False


def _values_after(node: WorkflowNode, result: PullResult, params: list[ExposedParameter]) -> dict[str, Any]:
    # the web UI's widget values are the newer intent: they win over the node's own
    now = {(f.node_id, f.input_name): f.value for f in result.diff.fields}
    return {p.id: now.get((p.node_id, p.input_name), node.values.get(p.id, p.default)) for p in params}


def start_sync(tab: WebUITab, auto: bool = False) -> None:
    """Pull the tab's web UI and ask the user to accept the diff (an automatic sync without changes skips the dialog)."""
    node = tab.node
    if node is None or tab.pushed is None:
        tab.show_error("nothing pushed yet: the node's workflow is not in the web UI")
        return
    if refuse_if_running(node, tab):
        tab.show_error(f"sync refused: '{node.title}' is running")
        return
    ctx = current_context(create=False)
    infos = ctx.node_definitions(tab.server_id) if ctx is not None else []
    info = infos[0] if infos else None
    fut = pull(tab.view.editor, exposed=node.spec.params, pushed=tab.pushed, object_info=info)

    def done(f: Any) -> None:
        exc = f.exception()
        if exc is not None:
            tab.show_error(f"sync failed, the node is unchanged: {exc}")
            return
        show_diff(tab, f.result(), info, auto)

    fut.add_done_callback(done)


def show_diff(tab: WebUITab, result: PullResult, info: Any, auto: bool = False) -> bool:
    """The re-bind dialog for a pulled workflow; True when accepted and applied."""
    node = tab.node
    assert node is not None
    workflow = result.workflow

    def make_spec(params: list[ExposedParameter]) -> WorkflowSpec:
        return spec_from_prompt(workflow, node.spec.title, node.spec.id, params=params, object_info=info)

    dlg = SyncDialog(node, result.diff, make_spec, tab)
    tab.sync_dialog = dlg  # reachable from tests
    quiet = auto and not result.diff.broken and not respec.plan(node, make_spec(result.diff.parameters)).dropped
    if not quiet and dlg.exec() != QDialog.Accepted:
        tab.show_message("sync cancelled: the node is unchanged")
        return False
    return accept(tab, dlg, result)


def accept(tab: WebUITab, dlg: SyncDialog, result: PullResult) -> bool:
    """Give the node the pulled workflow with the dialog's choices; keep the old one for undo."""
    node = tab.node
    assert node is not None
    if refuse_if_running(node, tab):
        return False
    try:
        params = dlg.parameters()
        spec = dlg.new_spec()
    except WorkflowError as exc:
        tab.show_error(f"the web UI's workflow cannot be used, the node is unchanged: {exc}")
        return False
    gui_undo.apply_sync(node, spec, _values_after(node, result, params), f"the web UI of {tab.server_id}")
    tab.pushed, tab.pushed_spec, tab.canvas_dirty = result.workflow, spec, False
    tab.view.editor.mark_synced()
    tab.undo_button.setEnabled(gui_undo.can_undo(node))
    tab.show_message(f"synced: {result.diff.summary()}; {spec.node_count} nodes (Ctrl+Z on the canvas undoes it)")
    tab.update_title()
    return True


def undo(tab: WebUITab) -> None:
    """Put back the node's workflow, values and connections from before the last sync."""
    node = tab.node
    if node is None or not gui_undo.can_undo(node) or refuse_if_running(node, tab):
        return
    gui_undo.undo_last_sync(node)
    tab.canvas_dirty = True   # the web UI still shows the synced workflow
    tab.show_message("sync undone: the node has its previous workflow (redo brings the sync back)")
    tab.update_title()


# -- the server's workflow store (no web UI needed) ---------------------------------------------
def online_servers() -> list[str]:
    """Ids of the servers that are online now."""
    ctx = current_context(create=False)
    if ctx is None:
        return []
    return [s.id for s in ctx.orch.servers() if s.health in (Health.ONLINE, Health.DEGRADED)]


def server_for(node: WorkflowNode, parent: QWidget | None = None) -> str | None:
    """The node's pinned server, else the one it last ran on, else the user's choice among online servers."""
    if node.target.server:
        return node.target.server
    if node.run.server:
        return node.run.server
    online = online_servers()
    if not online:
        QMessageBox.warning(parent, "Edit in ComfyUI", "No server is online: its web UI cannot be opened.")
        return None
    if len(online) == 1:
        return online[0]
    choice, ok = QInputDialog.getItem(parent, "Edit in ComfyUI", f"Open '{node.title}' in the web UI of:",
                                      online, 0, False)
    return choice if ok else None


def _store_server(node: WorkflowNode, parent: QWidget | None) -> str | None:
    return server_for(node, parent)


def save_to_server(node: WorkflowNode, parent: QWidget | None = None) -> None:
    """Save the node's workflow to a server's user workflows (``workflows/NAME.json``)."""
    ctx = current_context(create=False)
    sid = _store_server(node, parent) if ctx is not None else None
    if ctx is None or sid is None:
        return
    name, ok = QInputDialog.getText(parent, "Save workflow to server", f"Name on {sid}:", text=node.title)
    if not ok or not name.strip():
        return
    data = json.dumps(node.spec.workflow, indent=1).encode()
    when_done(ctx.orch.userdata_put(sid, f"workflows/{name.strip()}.json", data), ctx.post,
              lambda path: log.info("saved %s to %s as %s", node.title, sid, path),
              lambda exc: QMessageBox.warning(parent, "Save workflow to server", f"{sid}: {exc}"))


def load_from_server(node: WorkflowNode, parent: QWidget | None = None) -> None:
    """Pick one of a server's user workflows and give it to the node (through the sync dialog)."""
    ctx = current_context(create=False)
    sid = _store_server(node, parent) if ctx is not None else None
    if ctx is None or sid is None:
        return

    def chosen(names: list[str]) -> None:
        files = sorted(n for n in names if n.endswith(".json"))
        if not files:
            QMessageBox.information(parent, "Load workflow from server", f"{sid} has no saved workflows.")
            return
        name, ok = QInputDialog.getItem(parent, "Load workflow from server", f"Workflows on {sid}:", files, 0, False)
        if ok:
            when_done(ctx.orch.userdata_get(sid, f"workflows/{name}"), ctx.post,
                      lambda raw: load_bytes_into(node, raw, sid, name, parent), failed)

    def failed(exc: BaseException) -> None:
        QMessageBox.warning(parent, "Load workflow from server", f"{sid}: {exc}")

    when_done(ctx.orch.userdata_list(sid, "workflows"), ctx.post, chosen, failed)


def load_bytes_into(node: WorkflowNode, raw: bytes, server_id: str, name: str, parent: QWidget | None) -> bool:
    """Give ``node`` a workflow read from a server's store, after the re-bind dialog; True when applied."""
    if refuse_if_running(node, parent):
        return False
    try:
        workflow = parse_json_text(raw, f"{server_id}:workflows/{name}")
        ctx = current_context(create=False)
        infos = ctx.node_definitions(server_id) if ctx is not None else []
        info = infos[0] if infos else None
        diff = rebind_exposed(node.spec.params, node.spec.workflow, workflow, info)

        def make_spec(params: list[ExposedParameter]) -> WorkflowSpec:
            return spec_from_prompt(workflow, node.spec.title, node.spec.id, params=params, object_info=info)

        dlg = SyncDialog(node, diff, make_spec, parent)
        if dlg.exec() != QDialog.Accepted:
            return False
        spec = dlg.new_spec()
    except (ComfyBackendError, ValueError) as exc:
        QMessageBox.warning(parent, "Load workflow from server", f"{name}: {exc}; the node is unchanged")
        return False
    now = {(f.node_id, f.input_name): f.value for f in diff.fields}
    gui_undo.apply_sync(node, spec, {p.id: now.get((p.node_id, p.input_name), p.default) for p in spec.params},
                        f"{server_id}:workflows/{name}")
    return True
