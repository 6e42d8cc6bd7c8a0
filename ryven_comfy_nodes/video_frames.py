"""First frames of video outputs (MP4, WebM, MOV, GIF…), for thumbnails. Qt-free.

PyAV (FFmpeg) decodes real video containers; Pillow handles animated images. Returns PNG
bytes, or None when the file cannot be decoded (the GUI then shows a placeholder).
"""
from __future__ import annotations

import io
import logging

log = logging.getLogger(__name__)


def first_frame_png(data: bytes, max_side: int = 1024) -> bytes | None:
    """PNG bytes of the first frame of a video or animated image, scaled to fit ``max_side``."""
    image = _with_pillow(data) or _with_av(data)
    if image is None:
        return None
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _with_pillow(data: bytes):  # type: ignore[no-untyped-def]
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.seek(0)
        return img.copy()
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _with_av(data: bytes):  # type: ignore[no-untyped-def]
    try:
        import av
    except ImportError:
        log.info("PyAV is not installed: no first frame for video files")
        return None
    try:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                return frame.to_image()
    except (av.FFmpegError, StopIteration, ValueError, IndexError) as exc:
        log.debug("cannot decode the video's first frame: %s", exc)
    return None
