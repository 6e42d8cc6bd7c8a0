"""The bridge without a window: a QApplication when there is none, and ``to-api --frontend``.

``to_api`` is registered as the entry point ``to_api`` of the group ``ryven_comfy.frontend``;
the core's CLI calls it for ``ryven-comfy workflow to-api FILE --frontend URL`` without ever
importing Qt itself.
"""
from __future__ import annotations

import os
from typing import Any

from qtpy.QtWidgets import QApplication

from comfy_backend import ConfigError, ServerConfig

from .lifecycle import flush_deletions
from .page import EditorPage, wait
from .sync import pull, push

#: the tab name used for conversions
CONVERT_TAB = "ryven-comfy to-api"


def ensure_app() -> QApplication:
    """The running QApplication, or a new one: offscreen when there is no display, as root without
    Chromium's sandbox (which refuses to run as root)."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    # Chromium's own log (dbus, GPU probing) is noise on a terminal; the page's console goes to our log
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--log-level=3")
    prepare_qt()
    return QApplication([])


def prepare_qt() -> None:
    """What QtWebEngine needs before the QApplication exists: shared OpenGL contexts (Qt refuses
    to start QtWebEngine reliably without them once the application runs). Call it before any
    QApplication is made (``ensure_app`` does); after that it does nothing."""
    from qtpy.QtCore import QCoreApplication, Qt

    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def server_for(url: str, server_id: str = "frontend") -> ServerConfig:
    """A ServerConfig for a bare URL (no auth); ConfigError for a URL that is not one."""
    try:
        return ServerConfig(id=server_id, url=url)
    except ValueError as exc:
        msg = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise ConfigError(f"{url}: {msg}") from None


def to_api(workflow: dict[str, Any], url: str | ServerConfig, *, timeout: float = 90.0) -> dict[str, Any]:
    """The API prompt the server's own web UI makes of the UI ``workflow`` (``graphToPrompt().output``).

    Loads the page offscreen, pushes the workflow into a tab, converts, and closes the page.
    Raises FrontendUnavailable / PageTimeout (server problems), MissingNodeTypes /
    FrontendRefused (the workflow), all from the core's exception tree.
    """
    ensure_app()
    server = url if isinstance(url, ServerConfig) else server_for(url)
    page = EditorPage(server, ready_timeout=timeout)
    try:
        wait(page.load(), timeout + 5, "the web UI")
        wait(push(page, workflow, name=CONVERT_TAB), timeout, "the web UI (loading the workflow)")
        return wait(pull(page), timeout, "the web UI (converting)").prompt
    finally:
        page.close()
        flush_deletions()   # the caller may never run Qt's event loop again (the CLI exits next)


__all__ = ["CONVERT_TAB", "ensure_app", "prepare_qt", "server_for", "to_api"]
