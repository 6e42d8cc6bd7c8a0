"""Masks in the full-size view: grayscale by default, or laid over the image they were computed from."""
from __future__ import annotations

import io

from PIL import Image


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def mask_png(size=(32, 24)) -> bytes:
    """White (masked) left half, black right half; smaller than the image, as a downscaled mask would be."""
    m = Image.new("L", size, 0)
    m.paste(255, (0, 0, size[0] // 2, size[1]))
    return png(m)


def test_overlay_has_the_image_size_and_differs_from_grayscale(qapp):
    from qtpy.QtGui import QColor, QImage

    from ryven_comfy_nodes.gui_media import decode, mask_overlay

    image = decode(png(Image.new("RGB", (64, 48), (20, 60, 200))), "image")
    mask = decode(mask_png(), "mask")
    assert mask.isGrayscale()
    out = mask_overlay(mask, image)
    assert (out.width(), out.height()) == (64, 48)
    masked, clear = QColor(out.pixel(5, 24)), QColor(out.pixel(60, 24))
    assert (clear.red(), clear.green(), clear.blue()) == (20, 60, 200)  # unmasked: the image itself
    assert masked.red() > 120 and masked.blue() < 200  # masked: tinted towards the overlay colour
    assert not masked.red() == masked.green() == masked.blue()  # colour, not gray
    gray = mask.scaled(64, 48).convertToFormat(QImage.Format_ARGB32)
    assert out.convertToFormat(QImage.Format_ARGB32) != gray
