"""Thumbnails of produced files (image, mask, video first frame), decoded off the GUI thread; the
full-size view is ``gui_viewer``."""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QHBoxLayout, QLabel, QWidget

from comfy_backend import OutputRef

from .context import current_context
from .gui_decode import decode, mask_overlay
from .threads import in_worker

log = logging.getLogger(__name__)
__all__ = ["THUMB", "Thumb", "ThumbStrip", "decode", "mask_overlay", "thumbnail"]  # decode, mask_overlay: from gui_decode

THUMB = 96
MAX_THUMBS = 4

#: the value feeding a node's image input, if any (see ``values``): the image a mask was computed from
Underlay = Callable[[], Any]


#: thumbnails already decoded at display size: (ref, kind) -> image (a few hundred KB at most)
_THUMB_CACHE: OrderedDict[tuple[OutputRef, str], QImage] = OrderedDict()
THUMB_CACHE_SIZE = 400


def thumbnail(data: bytes, kind: str, size: int = THUMB) -> QImage | None:
    """The file decoded and scaled to ``size`` (runs on a worker thread: QImage is thread-safe)."""
    img = decode(data, kind)
    return None if img is None else img.scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


class Thumb(QLabel):
    """One thumbnail: fetched from the server that made the file, decoded on a worker thread,
    cached at display size. Click: the viewer window over the node's files."""

    def __init__(self, ref: OutputRef, kind: str, parent: QWidget | None = None,
                 underlay: Underlay | None = None, on_click: Callable[[Thumb], None] | None = None) -> None:
        super().__init__(parent)
        self.ref, self.kind, self.underlay, self.on_click = ref, kind, underlay, on_click
        self.data: bytes | None = None
        self.shown = False  # decoded and drawn (or known to have no preview)
        self.setFixedSize(THUMB, THUMB)
        self.setAlignment(Qt.AlignCenter)
        self.setStyleSheet("background:#222;color:#bbb;border:1px solid #444;")
        self.setToolTip(f"{ref.filename} on {ref.server} — click for the viewer")
        self.setCursor(Qt.PointingHandCursor)
        cached = _THUMB_CACHE.get((ref, kind))
        if cached is not None:
            self._draw(cached)
            self.shown = True
        else:
            self.setText("…")
        ctx = current_context()
        if ctx is not None:
            ctx.files.fetch_bytes(ref, self._loaded)

    def _alive(self) -> bool:
        try:
            self.isVisible()  # raises if the Qt object was deleted meanwhile
        except RuntimeError:
            return False
        return True

    def _loaded(self, data: bytes | None, err: str | None) -> None:
        if not self._alive():
            return
        if data is None:
            self.setText("!")
            self.setToolTip(f"could not fetch {self.ref.filename}: {err}")
            self.shown = True
            return
        self.data = data
        if self.shown:
            return
        ctx = current_context(create=False)
        kind = self.kind
        in_worker(lambda: thumbnail(data, kind), ctx.post, self._decoded,
                  lambda exc: self._decoded(None))

    def _decoded(self, img: QImage | None) -> None:
        if not self._alive():
            return
        self.shown = True
        if img is None:
            self.setText("▶ video" if self.kind == "video" else Path(self.ref.filename).suffix or "file")
            return
        _THUMB_CACHE[(self.ref, self.kind)] = img
        while len(_THUMB_CACHE) > THUMB_CACHE_SIZE:
            _THUMB_CACHE.popitem(last=False)
        self._draw(img)

    def _draw(self, img: QImage) -> None:
        self.setPixmap(QPixmap.fromImage(img))

    @property
    def loaded(self) -> bool:
        """The file's bytes arrived and the thumbnail is drawn."""
        return self.data is not None and self.shown

    def mousePressEvent(self, event: Any) -> None:
        if self.on_click is not None:
            self.on_click(self)


class ThumbStrip(QWidget):
    """A row of thumbnails for a list of (ref, kind); ``changed()`` after the row changed size."""

    def __init__(self, parent: QWidget | None = None, underlay: Underlay | None = None,
                 changed: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.underlay = underlay  # masks: the node's upstream image, for the overlay in the viewer
        self.changed = changed
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(4)
        self.thumbs: list[Thumb] = []
        self._shown: list[tuple[OutputRef, str]] = []
        self._all: list[tuple[OutputRef, str]] = []
        self.more = QLabel()
        self.viewer: Any = None
        self.setVisible(False)

    def show_refs(self, items: list[tuple[OutputRef, str]]) -> None:
        self._all = list(items)
        items = items[:MAX_THUMBS]
        if items == self._shown:
            return
        self._shown = items
        for t in self.thumbs:
            self.row.removeWidget(t)
            t.hide()  # a visible widget deleted inside a cached proxy stays drawn (see ``gui_paint``)
            t.deleteLater()
        self.row.removeWidget(self.more)
        self.thumbs = [Thumb(ref, kind, self, self.underlay, self.open_viewer) for ref, kind in items]
        for t in self.thumbs:
            self.row.addWidget(t)
        extra = len(self._all) - len(items)
        self.more.setText(f"+{extra}" if extra > 0 else "")
        self.row.addWidget(self.more)
        self.setVisible(bool(items))
        if self.changed is not None:
            self.changed()

    def open_viewer(self, thumb: Thumb | None = None) -> Any:
        """The viewer window over every file of the strip, at ``thumb``'s."""
        from .gui_viewer import open_viewer

        source = self.underlay() if self.underlay is not None else None
        entries = [(ref, kind, source if kind == "mask" else None) for ref, kind in self._all]
        index = self.thumbs.index(thumb) if thumb in self.thumbs else 0
        preloaded = {t.ref: t.data for t in self.thumbs if t.data is not None}
        self.viewer = open_viewer(entries, index, preloaded)
        return self.viewer
