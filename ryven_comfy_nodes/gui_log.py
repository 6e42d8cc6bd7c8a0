"""The log dock: the logging tree, live, with a level filter and a search.

``PostingHandler`` is a ``logging.Handler`` usable from any thread: records are
formatted into a bounded buffer, and one drain is posted to the GUI thread (through the
poster of ``threads``) when the buffer turns non-empty, so a burst of records costs one
GUI callback, not one each.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from qtpy.QtGui import QColor, QTextCharFormat, QTextCursor
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from .threads import Post

KEEP = 5000
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
Line = tuple[int, str]
#: each line's colour by level on the editor's dark theme (background #1E242A): every one keeps a
#: contrast of at least 4.5:1 there (tests/ryven/test_dock_visuals.py measures it)
LEVEL_COLOURS = ((logging.ERROR, "#f87171"), (logging.WARNING, "#fbbf24"), (logging.INFO, "#d4d4d8"),
                 (logging.NOTSET, "#9ca3af"))


def level_colour(level: int) -> str:
    """The colour of a line at ``level``: debug grey, info light, warning amber, error and critical red."""
    return next(colour for at_least, colour in LEVEL_COLOURS if level >= at_least)


class PostingHandler(logging.Handler):
    """Hands formatted records to ``sink(lines)`` on the GUI thread, in batches."""

    def __init__(self, post: Post, sink: Callable[[list[Line]], None], level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.post = post
        self.sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        self._buf: deque[Line] = deque(maxlen=KEEP)
        self._buf_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (record.levelno, self.format(record))
        except Exception:  # a record that cannot be formatted: logging's own error report
            self.handleError(record)
            return
        with self._buf_lock:
            first = not self._buf
            self._buf.append(line)
        if first:
            self.post(self._drain)

    def _drain(self) -> None:
        with self._buf_lock:
            lines = list(self._buf)
            self._buf.clear()
        if lines:
            self.sink(lines)


class LogPanel(QWidget):
    """Live log lines (the last KEEP), filtered by level and a search text."""

    def __init__(self, post: Post, parent: QWidget | None = None, *, logger: logging.Logger | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Level"))
        self.level_box = QComboBox()
        self.level_box.addItems(list(LEVELS))
        self.level_box.setCurrentText("info")
        self.level_box.currentIndexChanged.connect(lambda _: self.rebuild())
        bar.addWidget(self.level_box)
        self.search = QLineEdit()
        self.search.setPlaceholderText("search…")
        self.search.textChanged.connect(lambda _: self.rebuild())
        bar.addWidget(self.search, 1)
        lay.addLayout(bar)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(KEEP)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.text.setPlaceholderText("Nothing logged at this level yet. Server state changes, retries and failures "
                                     "are logged here; choose 'debug' to see everything.")
        lay.addWidget(self.text, 1)
        self.lines: deque[Line] = deque(maxlen=KEEP)
        self.logger = logger or logging.getLogger()
        self.handler = PostingHandler(post, self.add_lines)
        self.logger.addHandler(self.handler)
        if self.logger.level > logging.INFO or self.logger.level == logging.NOTSET:
            self.logger.setLevel(logging.INFO)  # the dock shows INFO by default: let it through
        self.destroyed.connect(lambda *_: self.logger.removeHandler(self.handler))

    def _wanted(self, line: Line) -> bool:
        level, text = line
        needle = self.search.text().lower()
        return level >= LEVELS[self.level_box.currentText()] and (not needle or needle in text.lower())

    def add_lines(self, lines: list[Line]) -> None:
        self.lines.extend(lines)
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum()
        self._append([line for line in lines if self._wanted(line)])
        if at_end:  # follow the log, unless the user scrolled back to read
            bar.setValue(bar.maximum())

    def _append(self, lines: list[Line]) -> None:
        """Append ``lines`` at the end, each in its level's colour (one edit: one relayout)."""
        if not lines:
            return
        doc = self.text.document()
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        fmt = QTextCharFormat()
        for level, text in lines:
            if not doc.isEmpty():
                cursor.insertBlock()
            fmt.setForeground(QColor(level_colour(level)))
            cursor.insertText(text, fmt)
        cursor.endEditBlock()

    def rebuild(self) -> None:
        """Show the kept lines again under the current filter."""
        self.text.clear()
        self._append([line for line in self.lines if self._wanted(line)])
        self.text.moveCursor(QTextCursor.MoveOperation.End)
        self.text.ensureCursorVisible()

    def visible_text(self) -> str:
        return self.text.toPlainText()

    def close_handler(self) -> None:
        self.logger.removeHandler(self.handler)
