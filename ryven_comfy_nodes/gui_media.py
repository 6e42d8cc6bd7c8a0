"""Thumbnails and full-size previews of produced files (image, mask, video first frame)."""
from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QUrl
from qtpy.QtGui import QDesktopServices, QImage, QPixmap
from qtpy.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from comfy_backend.models import OutputRef
from .context import current_context

log = logging.getLogger(__name__)

THUMB = 96
MAX_THUMBS = 4


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


def _first_frame(data: bytes) -> QImage | None:
    """First frame of an animated image (GIF/WebP/APNG) through Pillow; other videos have no decoder here."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            buf = io.BytesIO()
            im.convert("RGBA").save(buf, "PNG")
    except Exception as exc:  # noqa: BLE001 - unknown container: show a placeholder instead
        log.debug("no first frame: %s", exc)
        return None
    img = QImage()
    return img if img.loadFromData(buf.getvalue()) else None


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

    def __init__(self, ref: OutputRef, data: bytes, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{ref.filename} — {ref.server}")
        self.ref, self.data = ref, data
        lay = QVBoxLayout(self)
        self.image_label = QLabel()
        self.image_label.setAlignment(Qt.AlignCenter)
        img = decode(data, kind)
        if img is not None:
            self.image_label.setPixmap(QPixmap.fromImage(img))
            self.resize(min(img.width() + 40, 1400), min(img.height() + 80, 1000))
        else:
            self.image_label.setText(f"{ref.filename}: no preview for this file type")
        scroll = QScrollArea()
        scroll.setWidget(self.image_label)
        scroll.setWidgetResizable(True)
        lay.addWidget(scroll)
        row = QHBoxLayout()
        ext = QPushButton("Open externally")
        ext.clicked.connect(lambda: open_externally(self.ref, self.data))
        row.addStretch(1)
        row.addWidget(ext)
        lay.addLayout(row)


class Thumb(QLabel):
    """One thumbnail; fetched lazily from the server that made the file. Click: full-size preview."""

    def __init__(self, ref: OutputRef, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ref, self.kind = ref, kind
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
            ctx.fetch_bytes(ref, self._loaded)

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
            self.dialog = PreviewDialog(self.ref, self.data, self.kind, self.window())
            self.dialog.show()


class ThumbStrip(QWidget):
    """A row of thumbnails for a list of (ref, kind)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.thumbs = [Thumb(ref, kind, self) for ref, kind in items]
        for t in self.thumbs:
            self.row.addWidget(t)
        self.setVisible(bool(items))
