"""Start Ryven with PySide6, our node package, our docks and the servers config.

Ryven's ``-n`` option crashes in 3.5.0, so the editor is started through
``run_ryven(qt_app=..., nodes=[...], qt_api='pyside6', defer_code_loading=True)``,
which returns the main window for us to extend before the event loop runs.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from comfy_backend import Orchestrator, ServersConfig

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


def create_editor(config: ServersConfig, project: str | Path | None = None, *, app: Any = None) -> Any:
    """Build the editor window (no event loop); returns Ryven's ``MainWindow``.

    ``project`` may be a Ryven project (unpickled on load: trusted files only) or a
    pickle-free ``.orchestrator.json`` (imported into the first flow).
    """
    os.environ["QT_API"] = "pyside6"
    from qtpy.QtWidgets import QApplication

    from .classes import hand_over
    from .context import set_context
    from .project_format import is_orchestrator_file
    from .project_ryven import specs_in_ryven_project

    app = app or QApplication.instance() or QApplication(sys.argv[:1])
    ctx = make_context(config)
    set_context(ctx)

    def shutdown() -> None:
        ctx.dispatcher.stop()
        ctx.close()
        set_context(None)

    app.aboutToQuit.connect(shutdown)
    ryven_project = None
    if project is not None and not is_orchestrator_file(project):
        ryven_project = str(Path(project).resolve())
        hand_over(specs_in_ryven_project(ryven_project))

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
    if project is not None and is_orchestrator_file(project):
        gui_editor.import_orchestrator(editor, Path(project))
    return editor


def run_editor(config: ServersConfig, project: str | Path | None = None) -> int:
    """Start the editor and run the Qt event loop until the window closes."""
    os.environ["QT_API"] = "pyside6"
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    editor = create_editor(config, project, app=app)
    editor.show()
    return int(app.exec())
