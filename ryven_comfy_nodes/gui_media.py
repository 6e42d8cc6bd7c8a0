"""Thumbnails and full-size previews of produced files (image, mask, video first frame)."""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QUrl
from qtpy.QtGui import QColor, QDesktopServices, QImage, QPainter, QPixmap
from qtpy.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from comfy_backend import OutputRef

from .context import current_context
from .fetching import fetch_image_source
from .video_frames import first_frame_png

log = logging.getLogger(__name__)

THUMB = 96
MAX_THUMBS = 4
OVERLAY_COLOUR = QColor(255, 40, 90)
OVERLAY_OPACITY = 0.55

#: the value feeding a node's image input, if any (see ``values``): the image a mask was computed from
Underlay = Callable[[], Any]


def decode(data: bytes, kind: str) -> QImage | None:
    """A QImage of an image, a mask (grayscale) or a video's first frame; None if it cannot be decoded."""
    img = QImage()
    if not img.loadFromData(data):
        img = _first_frame(data)
        if img is None:
            return None
    if kind == "mask":
        img = img.convertToFormat(QImage.Format_Grayscale8)
    return img


def mask_overlay(mask: QImage, image: QImage, colour: QColor = OVERLAY_COLOUR,
                 opacity: float = OVERLAY_OPACITY) -> QImage:
    """``image`` with the mask laid over it in a semi-transparent colour (white = masked), at the image's size."""
    out = image.convertToFormat(QImage.Format_ARGB32_Premultiplied)
    alpha = mask.convertToFormat(QImage.Format_Grayscale8)
    if alpha.size() != out.size():
        alpha = alpha.scaled(out.size(), Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    tint = QImage(out.size(), QImage.Format_ARGB32)
    tint.fill(colour)
    tint.setAlphaChannel(alpha)
    painter = QPainter(out)
    painter.setOpacity(opacity)
    painter.drawImage(0, 0, tint)
    painter.end()
    return out


def _first_frame(data: bytes) -> QImage | None:
    """First frame of a video (MP4/WebM/MOV via PyAV) or an animated image (Pillow)."""
    png = first_frame_png(data)
    if png is None:
        return None
    img = QImage()
    return img if img.loadFromData(png) else None


def open_externally(ref: OutputRef, data: bytes) -> Path:
    """Write the file to a temp folder and open it with the desktop's default application."""
    folder = Path(tempfile.gettempdir()) / "ryven-comfy-view"
    folder.mkdir(exist_ok=True)
    path = folder / Path(ref.filename).name
    path.write_bytes(data)
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
    return path


class PreviewDialog(QDialog):
    """A produced file at full size (scrollable), with "open externally"."""

    def __init__(self, ref: OutputRef, data: bytes, kind: str, parent: QWidget | None = None,
                 underlay: Any = None) -> None:
        """``underlay``: for a mask, the image source it was computed from (offers "Overlay on image")."""
        super().__init__(parent)
        self.setWindowTitle(f"{ref.filename} — {ref.server}")
        self.ref, self.data, self.underlay = ref, data, underlay
        lay = QVBoxLayout(self)
        self.image_label = QLabel()
        self.image_label.setAlignment(Qt.AlignCenter)
        self.image = decode(data, kind)
        self.plain_pixmap: QPixmap | None = None
        self.overlay_pixmap: QPixmap | None = None
        if self.image is not None:
            self.plain_pixmap = QPixmap.fromImage(self.image)
            self.image_label.setPixmap(self.plain_pixmap)
            self.resize(min(self.image.width() + 40, 1400), min(self.image.height() + 80, 1000))
        else:
            self.image_label.setText(f"{ref.filename}: no preview for this file type")
        scroll = QScrollArea()
        scroll.setWidget(self.image_label)
        scroll.setWidgetResizable(True)
        lay.addWidget(scroll)
        row = QHBoxLayout()
        self.overlay_box: QCheckBox | None = None
        if kind == "mask" and self.image is not None and underlay is not None:
            self.overlay_box = QCheckBox("Overlay on input image")
            self.overlay_box.setToolTip("the mask in colour over the image that fed this node's image input")
            self.overlay_box.toggled.connect(self.show_overlay)
            row.addWidget(self.overlay_box)
        ext = QPushButton("Open externally")
        ext.clicked.connect(lambda: open_externally(self.ref, self.data))
        row.addStretch(1)
        row.addWidget(ext)
        lay.addLayout(row)

    def show_overlay(self, on: bool = True) -> None:
        """Switch between the grayscale mask and the overlay (the image is fetched once, on first use)."""
        if not on or self.image is None:
            if self.plain_pixmap is not None:
                self.image_label.setPixmap(self.plain_pixmap)
            return
        if self.overlay_pixmap is not None:
            self.image_label.setPixmap(self.overlay_pixmap)
            return
        if self.underlay is not None:
            ctx = current_context(create=False)
            fetch_image_source(ctx.files if ctx is not None else None, self.underlay, self._underlay_loaded)

    def _underlay_loaded(self, data: bytes | None, err: str | None, name: str) -> None:
        try:
            self.isVisible()  # raises if the dialog was deleted meanwhile
        except RuntimeError:
            return
        base = decode(data, "image") if data is not None else None
        if base is None or self.image is None:
            log.info("no overlay for %s: %s", self.ref.filename, err or f"{name} cannot be decoded")
            if self.overlay_box is not None:
                self.overlay_box.setToolTip(f"no input image: {err or name + ' cannot be decoded'}")
                self.overlay_box.setChecked(False)
            return
        self.overlay_pixmap = QPixmap.fromImage(mask_overlay(self.image, base))
        if self.overlay_box is None or self.overlay_box.isChecked():
            self.image_label.setPixmap(self.overlay_pixmap)


class Thumb(QLabel):
    """One thumbnail; fetched lazily from the server that made the file. Click: full-size preview."""

    def __init__(self, ref: OutputRef, kind: str, parent: QWidget | None = None,
                 underlay: Underlay | None = None) -> None:
        super().__init__(parent)
        self.ref, self.kind, self.underlay = ref, kind, underlay
        self.data: bytes | None = None
        self.setFixedSize(THUMB, THUMB)
        self.setAlignment(Qt.AlignCenter)
        self.setStyleSheet("background:#222;color:#bbb;border:1px solid #444;")
        self.setText("…")
        self.setToolTip(f"{ref.filename} on {ref.server} — click for full size")
        self.setCursor(Qt.PointingHandCursor)
        self.dialog: PreviewDialog | None = None
        ctx = current_context()
        if ctx is not None:
            ctx.files.fetch_bytes(ref, self._loaded)

    def _loaded(self, data: bytes | None, err: str | None) -> None:
        try:
            self.isVisible()  # raises if the Qt object was deleted meanwhile
        except RuntimeError:
            return
        if data is None:
            self.setText("!")
            self.setToolTip(f"could not fetch {self.ref.filename}: {err}")
            return
        self.data = data
        img = decode(data, self.kind)
        if img is None:
            self.setText("▶ video" if self.kind == "video" else Path(self.ref.filename).suffix or "file")
            return
        self.setPixmap(QPixmap.fromImage(img).scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation))

    @property
    def loaded(self) -> bool:
        return self.data is not None

    def mousePressEvent(self, event: Any) -> None:
        if self.data is not None:
            source = self.underlay() if self.underlay is not None and self.kind == "mask" else None
            self.dialog = PreviewDialog(self.ref, self.data, self.kind, self.window(), underlay=source)
            self.dialog.show()


class ThumbStrip(QWidget):
    """A row of thumbnails for a list of (ref, kind)."""

    def __init__(self, parent: QWidget | None = None, underlay: Underlay | None = None) -> None:
        super().__init__(parent)
        self.underlay = underlay  # masks: the node's upstream image, for the overlay in the full-size view
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(4)
        self.thumbs: list[Thumb] = []
        self._shown: list[tuple[OutputRef, str]] = []

    def show_refs(self, items: list[tuple[OutputRef, str]]) -> None:
        items = items[:MAX_THUMBS]
        if items == self._shown:
            return
        self._shown = items
        for t in self.thumbs:
            self.row.removeWidget(t)
            t.deleteLater()
        self.thumbs = [Thumb(ref, kind, self, self.underlay) for ref, kind in items]
        for t in self.thumbs:
            self.row.addWidget(t)
        self.setVisible(bool(items))
