"""A sync (a new workflow given to a node) as one step of Ryven's undo stack, and an Edit menu.

Each Ryven flow view has its own ``QUndoStack`` (Ctrl+Z / redo on the canvas, the "Undo
History" dock); :func:`apply_sync` pushes the replacement there as one command, so that the
canvas's undo brings the node's old workflow, ports and connections back, and redo the synced
one. The node's context menu and the web-UI tab offer "Undo last sync" too: it is the stack's
undo when the sync is the last step, else a new step that goes back to the workflow from before
the sync (the steps after it stay). The port objects themselves are switched back and forth
(:mod:`.respec`), so the stack's other steps that hold the node's connections stay valid.
A node without a flow view (headless) gets the same switch without a stack.
"""
from __future__ import annotations

import logging
import weakref
from typing import Any

from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QAction, QMenu

from . import gui_layout, respec
from .workflow_node import WorkflowNode
from .workflow_spec import WorkflowSpec

log = logging.getLogger(__name__)
UNDO_ACTION = "Undo last sync"


class _Switch:
    """Switches a node between two states; each call of :meth:`switch` goes to the other one."""

    def __init__(self, node: WorkflowNode, state: respec.Snapshot, record: _Record, to_synced: bool) -> None:
        self.node, self.state, self.record = node, state, record
        self.to_synced = to_synced   # what the first switch does: apply the sync, or go back before it
        self.forward = True

    def switch(self) -> None:
        try:
            self.state = respec.restore(self.node, self.state)
        except Exception as exc:  # raised through Qt's undo stack it would leave Ryven's
            # command flag set for good (no undo would work again): logged and shown on the node instead
            log.exception("undo/redo of a sync of %s failed", self.node.title)
            self.node.webui_state = {**self.node.webui_state, "error": f"undo/redo of the sync failed: {exc}"}
            self.node.redraw()
            return
        self.record.applied = self.to_synced == self.forward
        self.forward = not self.forward
        _update_action(self.node)
        self.node.run_changed.emit()   # the web-UI tab and the node's button follow


class _Record:
    """The node's last sync: its step, and whether the node has the synced workflow now."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.applied = False
        self.step: _Switch | None = None      # the sync itself
        self.command: Any = None              # its entry in Ryven's undo stack, if any


_records: weakref.WeakKeyDictionary[WorkflowNode, _Record] = weakref.WeakKeyDictionary()


def flow_view(node: WorkflowNode) -> Any:
    """The Ryven flow view showing ``node`` (None without a GUI)."""
    gui = getattr(node, "gui", None)
    item = getattr(gui, "item", None) if gui is not None else None
    return getattr(item, "flow_view", None)


def _run(node: WorkflowNode, step: _Switch, text: str) -> Any:
    """Do ``step`` as one undoable command of the node's flow view; returns the command (None headless)."""
    view = flow_view(node)
    if view is None:
        step.switch()
        return None
    from ryvencore_qt.src.flows.FlowCommands import Delegate_Command  # Ryven's own (undo, redo) command

    cmd = Delegate_Command(view, text, step.switch, step.switch)
    view.push_undo(cmd)   # runs the redo: the switch
    return cmd


def apply_sync(node: WorkflowNode, spec: WorkflowSpec, values: dict[str, Any], what: str = "web UI") -> None:
    """Give ``node`` the workflow ``spec`` with ``values`` as one undoable step ("Sync 'T' from …")."""
    text = f"Sync '{node.title}' from {what}"
    record = _Record(text)
    # no wires of its own: the node keeps those of its current connections that still fit
    record.step = _Switch(node, respec.Snapshot(spec, values, wires=None), record, to_synced=True)
    _records[node] = record
    record.command = _run(node, record.step, text)


def can_undo(node: WorkflowNode) -> bool:
    """True when the node has the workflow of its last sync (which can be undone)."""
    record = _records.get(node)
    return record is not None and record.applied


def undo_last_sync(node: WorkflowNode) -> bool:
    """Put back the node's workflow from before its last sync; False when there is none to undo."""
    record = _records.get(node)
    if record is None or not record.applied or record.step is None:
        return False
    view = flow_view(node)
    if view is None:
        record.step.switch()
        return True
    stack = view._undo_stack   # Ryven's per-flow QUndoStack (no public accessor)
    top = stack.command(stack.index() - 1) if stack.index() > 0 else None
    if top is not None and record.command is not None and top is record.command:
        view._undo_activated()   # what Ctrl+Z on the canvas does: redo stays possible
        return True
    # steps came after the sync: a new step back to the workflow from before it
    back = _Switch(node, record.step.state, record, to_synced=False)
    _run(node, back, f"Undo sync of '{node.title}'")
    return True


def _update_action(node: WorkflowNode) -> None:
    """Show "Undo last sync" in the node's context menu only while there is one to undo."""
    gui = getattr(node, "gui", None)
    actions = getattr(gui, "actions", None)
    if actions is None:
        return
    if can_undo(node):
        actions[UNDO_ACTION] = {"method": lambda: undo_last_sync(node)}
    else:
        actions.pop(UNDO_ACTION, None)


# -- Edit menu ----------------------------------------------------------------------------------
def _current_view(editor: Any) -> Any:
    try:
        return gui_layout.flow_view(editor)
    except (IndexError, KeyError):   # no flow open
        return None


def install_edit_menu(editor: Any) -> QMenu:
    """An Edit menu (Ryven has none) with Undo / Redo of the current flow's undo stack.

    The shortcuts are shown, not bound: the flow view binds Ctrl+Z / Ctrl+Y itself, and a second
    binding of the same keys in the window would make both ambiguous.
    """
    menu = QMenu("&Edit", editor)
    bar = editor.menuBar()
    view_menu = getattr(getattr(editor, "ui", None), "menuView", None)
    if view_menu is not None:
        bar.insertMenu(view_menu.menuAction(), menu)
    else:
        bar.addMenu(menu)
    undo, redo = QAction("Undo", editor), QAction("Redo", editor)
    undo.triggered.connect(lambda _=False: _step(editor, undo=True))
    redo.triggered.connect(lambda _=False: _step(editor, undo=False))
    menu.addAction(undo)
    menu.addAction(redo)

    def refresh() -> None:
        view = _current_view(editor)
        stack = getattr(view, "_undo_stack", None)
        undo.setEnabled(bool(stack is not None and stack.canUndo()))
        redo.setEnabled(bool(stack is not None and stack.canRedo()))
        what = (stack.undoText(), stack.redoText()) if stack is not None else ("", "")
        undo.setText(" ".join(filter(None, ("Undo", what[0]))) + "\t" + _keys(QKeySequence.StandardKey.Undo))
        redo.setText(" ".join(filter(None, ("Redo", what[1]))) + "\t" + _keys(QKeySequence.StandardKey.Redo))

    menu.aboutToShow.connect(refresh)
    refresh()
    editor._ryven_comfy_edit_menu = menu
    return menu


def _keys(key: QKeySequence.StandardKey) -> str:
    bound = QKeySequence.keyBindings(key)   # the keys the flow view's shortcuts answer to here
    return bound[0].toString(QKeySequence.SequenceFormat.NativeText) if bound else ""


def _step(editor: Any, undo: bool) -> None:
    view = _current_view(editor)
    if view is not None:
        (view._undo_activated if undo else view._redo_activated)()


__all__ = ["UNDO_ACTION", "apply_sync", "can_undo", "flow_view", "install_edit_menu", "undo_last_sync"]
