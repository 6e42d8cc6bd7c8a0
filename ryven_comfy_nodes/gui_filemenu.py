"""The File menu of a desktop tool: New, Open, Open recent, Save, Save as, Import/Export, Quit;
"unsaved changes?" on close, and the process ends with the window.

Projects are the pickle-free ``.orchestrator.json``. Whether there are unsaved changes
is decided by comparing the project as it would be saved now with the one last saved
or opened (positions, values, targets): nothing has to report its edits.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QAction, QApplication, QFileDialog, QMenu, QMessageBox

from .project_format import SUFFIX, export_flows

log = logging.getLogger(__name__)
MAX_RECENT = 8
FILTER = f"ryven-comfy project (*{SUFFIX})"


def _state(editor: Any) -> dict[str, Any]:
    return editor._ryven_comfy


def snapshot(editor: Any) -> str:
    """The project as it would be saved now (JSON), for the unsaved-changes check."""
    return export_flows(list(editor.core_session.flows), _state(editor)["project_ops"].positions).model_dump_json()


def mark_saved(editor: Any, path: Path | None) -> None:
    """The current content is what ``path`` holds (or a fresh project when None)."""
    st = _state(editor)
    st["project_path"] = path
    st["saved_snapshot"] = snapshot(editor)
    editor.setWindowTitle(f"{path.name if path else 'untitled'} — ryven-comfy")
    if path is not None:
        add_recent(path)


def is_modified(editor: Any) -> bool:
    """True when the flows differ from the last saved or opened project."""
    return snapshot(editor) != _state(editor).get("saved_snapshot")


def recent_files() -> list[str]:
    from .gui_layout import settings

    value = settings().value("recent", [])
    items = [value] if isinstance(value, str) else list(value or [])
    return [p for p in items if Path(p).is_file()]


def add_recent(path: Path) -> None:
    from .gui_layout import settings

    items = [str(path.resolve())] + [p for p in recent_files() if p != str(path.resolve())]
    s = settings()
    s.setValue("recent", items[:MAX_RECENT])
    s.sync()


def clear_flows(editor: Any) -> None:
    """Remove every node, keep one empty flow named "untitled"."""
    session = editor.core_session
    for flow in list(session.flows)[1:]:
        session.delete_flow(flow)
    flow = session.flows[0]
    for node in list(flow.nodes):
        flow.remove_node(node)
    session.rename_flow(flow, "untitled")


def new_project(editor: Any) -> bool:
    if not confirm_discard(editor):
        return False
    clear_flows(editor)
    mark_saved(editor, None)
    return True


def open_project(editor: Any, path: Path, *, ask: bool = True) -> bool:
    """Replace the flows by those of ``path`` (after "unsaved changes?" when ``ask``)."""
    from .gui_layout import fit_flow

    if ask and not confirm_discard(editor):
        return False
    clear_flows(editor)
    try:
        _state(editor)["project_ops"].load(path)
    except Exception as exc:  # a bad file: say so, keep the empty project
        log.warning("could not open %s: %s", path, exc)
        QMessageBox.warning(editor, "Open failed", f"{path}\n\n{exc}")
        mark_saved(editor, None)
        return False
    mark_saved(editor, path)
    QTimer.singleShot(0, lambda: fit_flow(editor))
    return True


def save(editor: Any) -> bool:
    path = _state(editor).get("project_path")
    return save_as(editor) if path is None else save_to(editor, path)


def save_to(editor: Any, path: Path) -> bool:
    try:
        _state(editor)["project_ops"].save(path)
    except OSError as exc:
        QMessageBox.warning(editor, "Save failed", f"{path}\n\n{exc}")
        return False
    mark_saved(editor, path)
    editor.statusBar().showMessage(f"saved {path}", 5000)
    return True


def save_as(editor: Any) -> bool:
    current = _state(editor).get("project_path")
    name, _ = QFileDialog.getSaveFileName(editor, "Save project as", str(current or ("project" + SUFFIX)), FILTER)
    if not name:
        return False
    if not name.endswith(SUFFIX):
        name += SUFFIX
    return save_to(editor, Path(name))


def confirm_discard(editor: Any) -> bool:
    """True when the current project may be replaced or closed: unchanged, saved now, or discarded."""
    if not is_modified(editor):
        return True
    box = QMessageBox(QMessageBox.Question, "Unsaved changes",
                      "The project has unsaved changes. Save them first?",
                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, editor)
    box.setDefaultButton(QMessageBox.Save)
    answer = box.exec()
    if answer == QMessageBox.Save:
        return save(editor)
    return answer == QMessageBox.Discard


class CloseGuard(QObject):
    """Asks about unsaved changes when the window closes; once closed, the application quits
    (a viewer window or a dialog left open must not keep the process alive)."""

    def __init__(self, editor: Any) -> None:
        super().__init__(editor)
        self.editor = editor
        self.ask = True  # the screenshot mode and tests close without asking

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if obj is self.editor and event.type() == QEvent.Close:
            if self.ask and not confirm_discard(self.editor):
                event.ignore()
                return True
            from .gui_layout import remember

            remember(self.editor)
            QTimer.singleShot(0, QApplication.instance().quit)
        return False


@dataclass(frozen=True)
class ProjectOps:
    """How the editor saves and loads a project (given by ``gui_editor``, which owns them)."""

    positions: Callable[[Any], tuple[float, float]]  # node -> its position on the canvas
    save: Callable[[Path], None]                    # write the flows to a .orchestrator.json
    load: Callable[[Path], Any]                     # import a .orchestrator.json into the flows


def install(editor: Any, ops: ProjectOps) -> None:
    """Put our actions at the top of Ryven's File menu and guard closing."""
    _state(editor)["project_ops"] = ops
    menu = editor.ui.menuFile
    first = menu.actions()[0] if menu.actions() else None

    def add(text: str, slot: Any, shortcut: str | QKeySequence.StandardKey | None = None) -> QAction:
        a = QAction(text, editor)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(lambda _=False: slot())
        menu.insertAction(first, a)
        return a

    add("New project", lambda: new_project(editor), QKeySequence.New)
    add("Open project…", lambda: _open_dialog(editor), QKeySequence.Open)
    recent = QMenu("Open recent", menu)
    recent.aboutToShow.connect(lambda: _fill_recent(editor, recent))
    menu.insertMenu(first, recent)
    add("Save project", lambda: save(editor), QKeySequence.Save)
    add("Save project as…", lambda: save_as(editor), "Ctrl+Shift+S")
    menu.insertSeparator(first)
    menu.addSeparator()
    quit_action = QAction("Quit", editor)
    quit_action.setShortcut(QKeySequence("Ctrl+Q"))
    quit_action.triggered.connect(lambda _=False: editor.close())
    menu.addAction(quit_action)
    guard = CloseGuard(editor)
    editor.installEventFilter(guard)
    _state(editor)["close_guard"] = guard
    mark_saved(editor, None)


def _open_dialog(editor: Any) -> None:
    name, _ = QFileDialog.getOpenFileName(editor, "Open project", "", FILTER)
    if name:
        open_project(editor, Path(name))


def _fill_recent(editor: Any, menu: QMenu) -> None:
    menu.clear()
    files = recent_files()
    if not files:
        menu.addAction("(none)").setEnabled(False)
    for p in files:
        menu.addAction(p).triggered.connect(lambda _=False, p=p: open_project(editor, Path(p)))
