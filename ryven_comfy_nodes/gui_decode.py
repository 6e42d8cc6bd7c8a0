"""Decoding produced files into QImages (image, mask as grayscale, a video's or animation's first
frame) and the mask overlay. Pure functions on QImage: safe on a worker thread."""
from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QImage, QPainter

from .video_frames import first_frame_png

OVERLAY_COLOUR = QColor(255, 40, 90)
OVERLAY_OPACITY = 0.55


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
