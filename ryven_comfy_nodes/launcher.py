"""Start Ryven with PySide6, our node package, our docks and the servers config.

Ryven's ``-n`` option crashes in 3.5.0, so the editor is started through
``run_ryven(qt_app=..., nodes=[...], qt_api='pyside6', defer_code_loading=True)``,
which returns the main window for us to extend before the event loop runs.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfy_backend import Orchestrator, ServersConfig, Starter

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


def make_context(config: ServersConfig) -> Any:
    """The GUI context: backend on its thread, events delivered on the GUI thread."""
    from .context import AppContext
    from .qt_dispatch import QtDispatcher

    orch = Orchestrator(config, queue_timeout=None).start(wait_checked=False)
    disp = QtDispatcher()
    ctx = AppContext(orch, disp.post)
    ctx.dispatcher = disp
    return ctx


#: asks the user whether to open a Ryven project holding pickled state: (resolved path) -> yes?
Confirm = Callable[[str], bool]


def check_project(project: str | Path) -> None:
    """Read a project's structure before anything starts (WorkflowError for a bad file); unpickles nothing."""
    from .project_format import is_orchestrator_file, load_orchestrator
    from .project_ryven import read_project

    if is_orchestrator_file(project):
        load_orchestrator(project)
    else:
        read_project(project)


def pickle_warning_box(path: str, parent: Any = None) -> Any:
    """The confirmation before a Ryven project is unpickled: names the file, says why; No is the default."""
    from qtpy.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Warning, "Open a Ryven project?",
                      f"{path}\n\nThis Ryven project contains pickled node state, which can run code when "
                      "it is opened. Open it only if you trust it (or convert it to .orchestrator.json).\n\n"
                      "Open it?", QMessageBox.Yes | QMessageBox.No, parent)
    box.setDefaultButton(QMessageBox.No)
    box.setEscapeButton(QMessageBox.No)
    return box


def ask_to_open_pickled_project(path: str) -> bool:
    """Show ``pickle_warning_box`` and wait for the answer (True only for Yes)."""
    from qtpy.QtWidgets import QMessageBox

    return bool(pickle_warning_box(path).exec() == QMessageBox.Yes)


def ryven_project_to_open(project: str | Path, *, trust_pickles: bool, confirm: Confirm) -> str | None:
    """The resolved path of a Ryven project to open, or None when the user declined.

    A project holding pickled content is opened only with ``trust_pickles`` or when
    ``confirm(path)`` says yes; it is then marked trusted for this process.
    """
    from .project_ryven import pickled_fields, read_project, trust_file

    path = str(Path(project).resolve())
    if pickled_fields(read_project(path)) and not (trust_pickles or confirm(path)):
        log.warning("%s: not opened: it holds pickled node state and was not trusted", path)
        return None
    trust_file(path)
    return path


def create_editor(config: ServersConfig, project: str | Path | None = None, *, app: Any = None,
                  trust_pickles: bool = False, confirm: Confirm | None = None) -> Any:
    """Build the editor window (no event loop); returns Ryven's ``MainWindow``.

    ``project`` may be a pickle-free ``.orchestrator.json`` (imported into the first flow)
    or a Ryven project: one holding pickled state is opened only with ``trust_pickles`` or
    when ``confirm`` (default: a dialog naming the file, No by default) says yes.
    """
    os.environ["QT_API"] = "pyside6"
    from qtpy.QtWidgets import QApplication

    from .classes import hand_over
    from .context import set_context
    from .gui_webui import prepare_app
    from .project_format import is_orchestrator_file
    from .project_ryven import specs_in_ryven_project

    prepare_app()  # QtWebEngine (the embedded ComfyUI editor) before the QApplication
    app = app or QApplication.instance() or QApplication(sys.argv[:1])
    ryven_project = None
    if project is not None and not is_orchestrator_file(project):  # asked before the backend starts
        ryven_project = ryven_project_to_open(project, trust_pickles=trust_pickles,
                                              confirm=confirm or ask_to_open_pickled_project)
    ctx = make_context(config)
    set_context(ctx)

    def shutdown() -> None:
        ctx.dispatcher.stop()
        ctx.close()
        set_context(None)

    app.aboutToQuit.connect(shutdown)
    if ryven_project is not None:
        hand_over(specs_in_ryven_project(ryven_project, trust_pickles=True))  # trusted just above

    from ryven import run_ryven

    argv, sys.argv = sys.argv, sys.argv[:1]  # Ryven parses sys.argv itself
    try:
        editor = run_ryven(*([ryven_project] if ryven_project else []), qt_app=app, nodes=[str(PACKAGE_DIR)],
                           qt_api="pyside6", show_dialog=False, defer_code_loading=True,
                           window_title="ryven-comfy", window_theme="dark",
                           performance_mode="fast")  # no node shadows: nodes redraw on every progress step
    finally:
        sys.argv = argv
    from . import gui_editor

    gui_editor.install(editor)
    from . import gui_filemenu, gui_layout

    if project is not None and is_orchestrator_file(project):
        gui_editor.import_orchestrator(editor, Path(project))
        gui_filemenu.mark_saved(editor, Path(project))
    gui_layout.fit_when_shown(editor)
    gui_layout.select_first_workflow_node(editor)
    return editor


def open_editor(config: ServersConfig | None, project: str | Path | None = None, *, app: Any = None,
                trust_pickles: bool = False, local: int = 3, starter: Starter | None = None) -> Any:
    """``create_editor``, and with ``config`` None (nothing configured, no local servers running) the
    first run: the backend starts with no server, ``local`` local servers are installed and started in
    the background (``starter``: ``comfy_backend.LocalStart``'s, default the real install) with their
    progress in the window, and added when ready (``editor._ryven_comfy["first_run"]``)."""
    editor = create_editor(config or ServersConfig(servers=[]), project, app=app, trust_pickles=trust_pickles)
    if config is None:
        from . import gui_firstrun
        from .context import current_context

        ctx = current_context(create=False)
        assert ctx is not None  # installed by create_editor
        gui_firstrun.install(editor, ctx, local, starter)
    return editor


def run_editor(config: ServersConfig | None, project: str | Path | None = None, *, trust_pickles: bool = False,
               screenshot: str | Path | None = None, run: bool = False, size: tuple[int, int] | None = None,
               local: int = 3, starter: Starter | None = None) -> int:
    """Start the editor and run the Qt event loop until the window closes.

    With ``config`` None the local servers start in the background (``open_editor``). With
    ``screenshot``: fit the view, run the flow (``run``; once the local servers are ready), wait for
    its end, save a PNG of the window there and return 0 when every node succeeded (1 otherwise),
    without asking anything.
    """
    os.environ["QT_API"] = "pyside6"
    from qtpy.QtWidgets import QApplication

    from .gui_webui import prepare_app

    prepare_app()  # QtWebEngine (the embedded ComfyUI editor) before the QApplication
    app = QApplication.instance() or QApplication(sys.argv[:1])
    editor = open_editor(config, project, app=app, trust_pickles=trust_pickles, local=local, starter=starter)
    if size is not None:
        editor.resize(*size)
    editor.show()
    result: list[int] = []
    if screenshot is not None or run:
        from qtpy.QtCore import QTimer

        from .gui_screenshot import ScreenshotRun

        def done(code: int) -> None:
            result.append(code)
            if screenshot is not None:
                editor._ryven_comfy["close_guard"].ask = False
                editor.close()

        shot = ScreenshotRun(editor, Path(screenshot) if screenshot else None, run=run, done=done)
        first_run = editor._ryven_comfy.get("first_run")
        if first_run is None:
            QTimer.singleShot(300, shot.start)
        else:  # the run waits for the local servers (a failed start runs too: the nodes say why)
            first_run.when_ready(lambda ok: QTimer.singleShot(300, shot.start))
    code = int(app.exec())
    return result[0] if result else code
