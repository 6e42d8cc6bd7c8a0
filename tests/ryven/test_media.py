"""Masks in the full-size view: grayscale by default, or laid over the image they were computed from."""
from __future__ import annotations

import io

from PIL import Image

from comfy_backend.models import OutputRef


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


def test_preview_dialog_shows_grayscale_then_overlay_on_the_upstream_image(qapp, tmp_path):
    from qtpy.QtGui import QColor

    from ryven_comfy_nodes.gui_media import PreviewDialog
    from ryven_comfy_nodes.values import file_value

    src = tmp_path / "input.png"
    src.write_bytes(png(Image.new("RGB", (64, 48), (20, 60, 200))))
    ref = OutputRef(server="local1", filename="mask_00001_.png", subfolder="", type="temp", node_id="3")
    dlg = PreviewDialog(ref, mask_png(), "mask", underlay=file_value(src))
    shown = dlg.image_label.pixmap()
    assert shown.toImage().isGrayscale() and (shown.width(), shown.height()) == (32, 24)  # default: grayscale
    assert dlg.overlay_box is not None and not dlg.overlay_box.isChecked()
    dlg.overlay_box.setChecked(True)  # a local file arrives at once; produced files come from their server
    shown = dlg.image_label.pixmap()
    assert dlg.overlay_pixmap is not None and shown.cacheKey() == dlg.overlay_pixmap.cacheKey()
    assert (shown.width(), shown.height()) == (64, 48)
    assert not shown.toImage().isGrayscale()
    px = QColor(shown.toImage().pixel(5, 24))
    assert px.red() > 120
    dlg.overlay_box.setChecked(False)
    assert dlg.image_label.pixmap().toImage().isGrayscale()
    # no upstream image (or not a mask): no toggle, plain view
    assert PreviewDialog(ref, mask_png(), "mask").overlay_box is None
    assert PreviewDialog(ref, mask_png(), "image", underlay=file_value(src)).overlay_box is None
    # an upstream file that is gone: the toggle falls back to grayscale with the reason as tooltip
    gone = PreviewDialog(ref, mask_png(), "mask", underlay=file_value(tmp_path / "gone.png"))
    gone.overlay_box.setChecked(True)
    assert not gone.overlay_box.isChecked() and "gone.png" in gone.overlay_box.toolTip()
    assert gone.image_label.pixmap().toImage().isGrayscale()
