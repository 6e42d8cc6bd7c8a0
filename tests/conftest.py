"""Shared fixtures. Real ComfyUI servers come from the ``tests.real_servers`` plugin (once per session)."""
from __future__ import annotations

import gc
import importlib.util
import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

pytest_plugins = ["tests.real_servers", "tests.fake_fixtures"]


def _share_opengl_contexts() -> None:
    """QtWebEngine needs shared OpenGL contexts set before the first QApplication (pytest-qt's
    ``qapp`` or the editor's): conftest is imported before either exists."""
    if importlib.util.find_spec("PySide6") is None:
        return   # no Qt in this environment: no GUI test to prepare for
    from qtpy.QtCore import QCoreApplication, Qt

    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


_share_opengl_contexts()


@pytest.hookimpl(trylast=True)   # after the test's fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After each test module that used QtWebEngine: collect garbage here, on the GUI thread.

    Python's cyclic GC runs on whichever thread allocates when it triggers (a backend thread the
    next module starts, typically); Qt objects among that garbage would be deleted there.
    """
    if "PySide6.QtWebEngineCore" not in sys.modules:
        return
    if nextitem is not None and nextitem.path == item.path:
        return
    gc.collect()   # collection only: running deletions here, after a Ryven window's backend stopped, fires its timers
