import io

import av
import numpy as np
from PIL import Image

from ryven_comfy_nodes.video_frames import first_frame_png


def mp4(colour=(200, 30, 30), frames=3) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        for _ in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((24, 32, 3), colour, dtype=np.uint8), format="rgb24")
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def test_first_frame_of_an_mp4():
    png = first_frame_png(mp4())
    img = Image.open(io.BytesIO(png))
    assert img.size == (32, 24)
    r, g, b = img.getpixel((5, 5))
    assert r > 180 and g < 60 and b < 60


def test_first_frame_of_an_animated_webp():
    frames = [Image.new("RGB", (20, 10), c) for c in ((0, 0, 255), (255, 0, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    img = Image.open(io.BytesIO(first_frame_png(buf.getvalue())))
    assert img.size == (20, 10) and img.getpixel((3, 3))[2] > 200


def test_garbage_gives_none():
    assert first_frame_png(b"not a video at all") is None


def test_thumbnail_decodes_an_mp4(qapp):
    from ryven_comfy_nodes.gui_media import decode

    img = decode(mp4(colour=(30, 30, 200)), "video")
    assert img is not None and (img.width(), img.height()) == (32, 24)
    assert img.pixelColor(5, 5).blue() > 180
