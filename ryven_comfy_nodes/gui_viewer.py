"""The full-size viewer: a top-level window over a batch of produced files.

Fit / 1:1 / zoom (wheel) / pan (drag), previous / next across the batch, a mask shown
grayscale or as an overlay on the image it was computed from, Save as…, Open externally,
Escape closes. Videos play (QtMultimedia: play/pause/scrub), animated images animate.
Decoding runs on a worker thread (``threads.in_worker``); the window never blocks.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from qtpy.QtCore import QBuffer, QByteArray, Qt, QUrl
from qtpy.QtGui import QImage, QKeySequence, QMovie, QPixmap
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QShortcut,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from comfy_backend import OutputRef

from .context import current_context
from .fetching import fetch_image_source
from .gui_decode import decode, mask_overlay
from .threads import in_worker

log = logging.getLogger(__name__)

#: one file of the batch: its ref, its kind ("image", "mask", "video"), and for a mask the image source under it
Entry = tuple[OutputRef, str, Any]


def _temp_copy(ref: OutputRef, data: bytes) -> Path:
    folder = Path(tempfile.gettempdir()) / "ryven-comfy-view"
    folder.mkdir(exist_ok=True)
    path = folder / Path(ref.filename).name
    path.write_bytes(data)
    return path


class ImageView(QGraphicsView):
    """A pixmap with wheel zoom around the pointer and drag to pan."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setBackgroundBrush(Qt.black)
        self.fitted = True

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self.item.setPixmap(pixmap)
        self.scene().setSceneRect(self.item.boundingRect())
        if self.fitted:
            self.fit()

    def fit(self) -> None:
        self.fitted = True
        self.fitInView(self.item, Qt.KeepAspectRatio)

    def actual_size(self) -> None:
        self.fitted = False
        self.resetTransform()

    def zoom(self, factor: float) -> None:
        self.fitted = False
        scale = self.transform().m11()
        target = min(32.0, max(0.02, scale * factor))
        self.scale(target / scale, target / scale)

    def wheelEvent(self, event: Any) -> None:
        self.zoom(1.0015 ** event.angleDelta().y())

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.fitted:
            self.fit()


def decode_full(data: bytes, kind: str) -> QImage | None:
    """Full-size decode (runs on a worker thread)."""
    return decode(data, kind)


class Viewer(QWidget):
    """The viewer window; ``show_index(i)`` shows the i-th file of ``entries``."""

    def __init__(self, entries: list[Entry], index: int = 0, parent: QWidget | None = None,
                 preloaded: dict[OutputRef, bytes] | None = None) -> None:
        """``preloaded``: bytes already at hand (a thumbnail's), used instead of fetching them."""
        super().__init__(parent, Qt.Window)
        self.setAttribute(Qt.WA_DeleteOnClose)
        self.entries, self.index = entries, index
        self.preloaded = dict(preloaded or {})
        ctx = current_context(create=False)
        if ctx is not None:
            self.post = ctx.post
        else:  # no backend (a file viewed on its own): a poster of our own
            from .qt_dispatch import QtDispatcher

            self._dispatcher = QtDispatcher()
            self.post = self._dispatcher.post
        self.data: bytes | None = None
        self.image: QImage | None = None
        self.overlay: QImage | None = None
        self.movie: QMovie | None = None
        self.player: Any = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.stack = QStackedWidget()
        self.view = ImageView()
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignCenter)
        self.movie_label = QLabel()
        self.movie_label.setAlignment(Qt.AlignCenter)
        for w in (self.view, self.message, self.movie_label):
            self.stack.addWidget(w)
        lay.addWidget(self.stack, 1)
        bar = QHBoxLayout()
        self.prev_button = self._button(bar, "◀", "previous file (Left)", lambda: self.step(-1))
        self.counter = QLabel()
        bar.addWidget(self.counter)
        self.next_button = self._button(bar, "▶", "next file (Right)", lambda: self.step(1))
        self._button(bar, "Fit", "fit into the window (F)", self.view.fit)
        self._button(bar, "1:1", "actual pixels (1)", self.view.actual_size)
        self._button(bar, "+", "zoom in", lambda: self.view.zoom(1.25))
        self._button(bar, "−", "zoom out", lambda: self.view.zoom(0.8))
        self.mask_mode = QComboBox()
        self.mask_mode.addItems(["grayscale", "overlay on image"])
        self.mask_mode.setToolTip("a mask alone, or in colour over the image that fed this node")
        self.mask_mode.currentIndexChanged.connect(lambda _: self._show_image())
        bar.addWidget(self.mask_mode)
        bar.addStretch(1)
        self._button(bar, "Save as…", "save this file", self.save_as)
        self._button(bar, "Open externally", "open with the desktop's application", self.open_externally)
        lay.addLayout(bar)
        for keys, slot in (("Escape", self.close), ("Left", lambda: self.step(-1)), ("Right", lambda: self.step(1)),
                           ("F", self.view.fit), ("1", self.view.actual_size)):
            QShortcut(QKeySequence(keys), self, slot)
        self.resize(1000, 760)
        self.show_index(index)

    def _button(self, bar: QHBoxLayout, text: str, tip: str, slot: Any) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.clicked.connect(lambda _=False: slot())
        bar.addWidget(b)
        return b

    @property
    def entry(self) -> Entry:
        return self.entries[self.index]

    def step(self, delta: int) -> None:
        if len(self.entries) > 1:
            self.show_index((self.index + delta) % len(self.entries))

    def show_index(self, index: int) -> None:
        self.index = index
        ref, kind, underlay = self.entry
        self._stop_media()
        self.data = self.image = self.overlay = None
        self.setWindowTitle(f"{ref.filename} — {ref.server}")
        self.counter.setText(f"{index + 1}/{len(self.entries)}")
        for b in (self.prev_button, self.next_button):
            b.setEnabled(len(self.entries) > 1)
        self.mask_mode.setVisible(kind == "mask" and underlay is not None)
        self._say(f"loading {ref.filename}…")
        if ref in self.preloaded:
            self._fetched(index, self.preloaded[ref], None)
            return
        ctx = current_context(create=False)
        if ctx is None:
            self._say("no backend: cannot fetch the file")
            return
        ctx.files.fetch_bytes(ref, lambda data, err, i=index: self._fetched(i, data, err))

    def _alive(self, index: int) -> bool:
        try:
            self.objectName()  # raises once the Qt object is deleted
        except RuntimeError:  # the window was closed and deleted meanwhile
            return False
        return index == self.index

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def _fetched(self, index: int, data: bytes | None, err: str | None) -> None:
        if not self._alive(index):
            return
        if data is None:
            self._say(f"could not fetch {self.entry[0].filename}: {err}")
            return
        self.data = data
        ref, kind, _ = self.entry
        if kind == "video" or ref.filename.lower().endswith((".mp4", ".webm", ".mov", ".mkv")):
            self._play_video(ref, data)
            return
        if ref.filename.lower().endswith((".gif", ".webp")) and self._animate(data):
            return
        in_worker(lambda: decode_full(data, kind), self.post, lambda img, i=index: self._decoded(i, img),
                  lambda exc, i=index: self._alive(i) and self._say(f"cannot decode: {exc}"))

    def _decoded(self, index: int, img: QImage | None) -> None:
        if not self._alive(index):
            return
        if img is None:
            self._say(f"{self.entry[0].filename}: no preview for this file type (Open externally)")
            return
        self.image = img
        self.view.fitted = True
        self._show_image()

    def _show_image(self) -> None:
        if self.image is None:
            return
        ref, kind, underlay = self.entry
        if kind == "mask" and self.mask_mode.currentIndex() == 1 and underlay is not None:
            if self.overlay is None:
                self._load_overlay(underlay)
                return
            self.view.set_pixmap(QPixmap.fromImage(self.overlay))
        else:
            self.view.set_pixmap(QPixmap.fromImage(self.image))
        self.stack.setCurrentWidget(self.view)

    def _load_overlay(self, underlay: Any) -> None:
        ctx = current_context(create=False)
        index, mask = self.index, self.image

        def got(data: bytes | None, err: str | None, name: str) -> None:
            if not self._alive(index):
                return
            if data is None:
                self._say(f"no input image for the overlay: {err}")
                return

            def compose() -> QImage | None:
                base = decode_full(data, "image")
                return None if base is None or mask is None else mask_overlay(mask, base)

            in_worker(compose, self.post, lambda img: self._overlaid(index, img))

        fetch_image_source(ctx.files if ctx is not None else None, underlay, got)

    def _overlaid(self, index: int, img: QImage | None) -> None:
        if not self._alive(index):
            return
        if img is None:
            self.mask_mode.setCurrentIndex(0)
            return
        self.overlay = img
        self._show_image()

    def _animate(self, data: bytes) -> bool:
        self._buffer = QBuffer(self)
        self._buffer.setData(QByteArray(data))
        self._buffer.open(QBuffer.ReadOnly)
        movie = QMovie(self._buffer, QByteArray(), self)
        if not movie.isValid() or movie.frameCount() <= 1:
            return False
        self.movie = movie
        self.movie_label.setMovie(movie)
        self.stack.setCurrentWidget(self.movie_label)
        movie.start()
        return True

    def _play_video(self, ref: OutputRef, data: bytes) -> None:
        from .gui_video import VideoPlayer

        self.player = VideoPlayer(_temp_copy(ref, data), self)
        self.stack.addWidget(self.player)
        self.stack.setCurrentWidget(self.player)

    def _stop_media(self) -> None:
        if self.movie is not None:
            self.movie.stop()
            self.movie = None
        if self.player is not None:
            self.player.stop()
            self.stack.removeWidget(self.player)
            self.player.deleteLater()
            self.player = None

    def save_as(self) -> None:
        if self.data is None:
            return
        ref = self.entry[0]
        name, _ = QFileDialog.getSaveFileName(self, "Save file as", Path(ref.filename).name)
        if name:
            try:
                Path(name).write_bytes(self.data)
            except OSError as exc:
                QMessageBox.warning(self, "Save failed", f"{name}\n\n{exc}")

    def open_externally(self) -> None:
        from qtpy.QtGui import QDesktopServices

        if self.data is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(_temp_copy(self.entry[0], self.data))))

    def closeEvent(self, event: Any) -> None:
        self._stop_media()
        super().closeEvent(event)


def open_viewer(entries: list[Entry], index: int = 0, preloaded: dict[OutputRef, bytes] | None = None) -> Viewer:
    """Open (and raise) a viewer window on ``entries`` at ``index``."""
    viewer = Viewer(entries, index, preloaded=preloaded)
    viewer.show()
    viewer.raise_()
    viewer.activateWindow()
    return viewer
