"""Where and when the bridge's Qt objects die: on the GUI thread, the page before its profile.

QtWebEngine's objects must be created and deleted on the GUI thread; Chromium CHECKs otherwise
(SIGTRAP, exit code 133). A Python wrapper can be freed anywhere, though: Python's cyclic GC runs
on whichever thread allocates when it triggers (a backend's asyncio thread, say), and a wrapper
that owns its C++ object deletes it right there. So an :class:`~.page.EditorPage` is never owned
by its wrapper alone (the application holds one made without a parent), ``close()`` deletes
page, profile and then the EditorPage through the GUI thread's event loop, and
:func:`flush_deletions` runs those deletions at once for code that does not return to the loop.
"""
from __future__ import annotations

import atexit
import weakref
from typing import Any, Protocol

from qtpy.QtCore import QCoreApplication, QEvent, QThread


class _Closable(Protocol):
    def close(self) -> None: ...


#: ids of closed EditorPages whose page, profile (and EditorPage, when the application held it)
#: are not all deleted yet
closing: set[int] = set()
#: open EditorPages made without a parent (see close_all); weak: the application holds them
held: weakref.WeakSet[Any] = weakref.WeakSet()
_exit_hook: list[bool] = []


def check_gui_thread(what: str) -> None:
    """RuntimeError unless a QApplication exists and this is its thread."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError(f"{what} needs a QApplication (editor_bridge.ensure_app())")
    if QThread.currentThread() is not app.thread():
        raise RuntimeError(f"{what} must run on the GUI thread (QtWebEngine is not thread-safe)")


def flush_deletions(rounds: int = 10) -> None:
    """Run the deletions that :meth:`EditorPage.close` scheduled (pages, then their profiles), now.

    For code that does not return to Qt's event loop after closing pages (headless use, test
    teardown): each round deletes one more step of the page → profile → EditorPage chain.
    Does nothing when no page is being closed.
    """
    if not closing:
        return
    check_gui_thread("flush_deletions()")
    for _ in range(rounds):
        if not closing:
            return
        # deletions only: other events (timers of windows whose backend is gone, at a session's
        # end) are not ours to run here
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def close_all() -> None:
    """Close every open EditorPage made without a parent (the application holds those) and delete them now.

    Also runs at interpreter exit: pages left open would otherwise be deleted with the
    application, after QtWebEngine has shut down.
    """
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return
    for editor in list(held):
        editor.close()
    flush_deletions()


def hold(editor: _Closable) -> None:
    """Note an EditorPage the application holds, for :func:`close_all` (also registered with
    ``atexit`` once: after PySide's own handler, so it runs before the application is torn down)."""
    held.add(editor)
    if not _exit_hook:
        atexit.register(close_all)
        _exit_hook.append(True)


__all__ = ["check_gui_thread", "close_all", "closing", "flush_deletions", "held", "hold"]
