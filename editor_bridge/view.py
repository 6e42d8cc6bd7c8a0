"""A widget showing one server's web UI (an :class:`~.page.EditorPage`), for a dock tab or a window."""
from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWebEngineWidgets import QWebEngineView
from qtpy.QtWidgets import QVBoxLayout, QWidget

from comfy_backend import ServerConfig

from .page import EditorPage


class EditorView(QWidget):
    """The web UI of ``server`` in a ``QWebEngineView``; ``editor`` is the page to push to and pull from.

    ``load()`` is left to the caller (``view.editor.load()``), so that it can connect the
    page's signals first. Closing the widget releases the page; a view made without a parent
    (a window) is deleted then too.
    """

    def __init__(self, server: ServerConfig, parent: QWidget | None = None, **page_options: float | bool) -> None:
        super().__init__(parent)
        self.editor = EditorPage(server, self, **page_options)  # type: ignore[arg-type]
        self.web = QWebEngineView(self)
        self.web.setPage(self.editor.page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.web)
        self.setWindowTitle(f"ComfyUI: {server.display_name}")
        if parent is None:
            # a window: once closed (page released) the event loop deletes it on the GUI thread,
            # rather than whichever thread drops the last Python reference to it
            self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def closeEvent(self, event: object) -> None:
        # the view goes before its page, the page before its profile (Qt warns otherwise)
        self.web.setPage(None)
        self.editor.close()
        super().closeEvent(event)  # type: ignore[arg-type]


__all__ = ["EditorView"]
