"""Image bytes and the in-memory input/output/temp folders of a fake server."""
from __future__ import annotations

import hashlib
import io
import posixpath
import struct
import zlib
from functools import lru_cache

from PIL import Image

FOLDER_TYPES = ("input", "output", "temp")
#: Images larger than this are stored scaled down (keeping the aspect ratio) to stay cheap.
MAX_STORED_PIXELS = 1024 * 1024


@lru_cache(maxsize=256)
def solid_png(width: int, height: int, color: int) -> bytes:
    """A PNG filled with one RGB colour (`0xRRGGBB`), at most MAX_STORED_PIXELS large."""
    w, h = max(1, int(width)), max(1, int(height))
    if w * h > MAX_STORED_PIXELS:
        f = (MAX_STORED_PIXELS / (w * h)) ** 0.5
        w, h = max(1, int(w * f)), max(1, int(h * f))
    rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
    buf = io.BytesIO()
    Image.new("RGB", (w, h), rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def with_text_chunks(png: bytes, texts: dict[str, str]) -> bytes:
    """Insert tEXt chunks right after IHDR (as SaveImage stores `prompt` and `workflow`)."""
    chunks = []
    for key, value in texts.items():
        data = key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")
        chunks.append(struct.pack(">I", len(data)) + b"tEXt" + data
                      + struct.pack(">I", zlib.crc32(b"tEXt" + data) & 0xFFFFFFFF))
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]


def render_view(data: bytes, *, preview: str | None, channel: str | None) -> tuple[bytes, str]:
    """Apply `/view`'s `preview=webp;90` / `channel=rgb|a` options; returns (body, content type)."""
    if preview is None and channel in (None, "rgba"):
        return data, "image/png"
    with Image.open(io.BytesIO(data)) as img:
        buf = io.BytesIO()
        if preview is not None:
            info = preview.split(";")
            fmt = info[0]
            if fmt not in ("webp", "jpeg") or "a" in (channel or ""):
                fmt = "webp"
            quality = int(info[-1]) if info[-1].isdigit() else 90
            encoded = img.convert("RGB") if fmt == "jpeg" or channel == "rgb" else img
            encoded.save(buf, format=fmt, quality=quality)
            return buf.getvalue(), f"image/{fmt}"
        if channel == "rgb":
            img.convert("RGB").save(buf, format="PNG")
            return buf.getvalue(), "image/png"
        if channel == "a":
            alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
            out = Image.new("RGBA", img.size)
            out.putalpha(alpha)
            out.save(buf, format="PNG")
            return buf.getvalue(), "image/png"
        return data, "image/png"


def norm_subfolder(subfolder: str) -> str:
    """`os.path.normpath` of a subfolder, with "" for the folder itself."""
    if not subfolder:
        return ""
    s = posixpath.normpath(subfolder.replace("\\", "/"))
    return "" if s == "." else s


def escapes(subfolder: str) -> bool:
    """True if the subfolder points outside its folder (absolute or `..`)."""
    s = norm_subfolder(subfolder)
    return s.startswith("/") or s == ".." or s.startswith("../")


def split_annotated(name: str, default_type: str = "input") -> tuple[str, str, str]:
    """`folder_paths.annotated_filepath`: 'sub/x.png [output]' -> ('output', 'sub', 'x.png')."""
    kind = default_type
    for t in FOLDER_TYPES:
        if name.endswith(f"[{t}]"):
            kind, name = t, name[: -(len(t) + 3)]
            break
    return kind, norm_subfolder(posixpath.dirname(name)), posixpath.basename(name)


class FileStore:
    """Files of the input, output and temp folders, kept in memory."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str, str], bytes] = {}
        self._counters: dict[tuple[str, str, str], int] = {}

    def get(self, kind: str, subfolder: str, name: str) -> bytes | None:
        return self._files.get((kind, norm_subfolder(subfolder), name))

    def exists(self, kind: str, subfolder: str, name: str) -> bool:
        return (kind, norm_subfolder(subfolder), name) in self._files

    def exists_annotated(self, annotated: str) -> bool:
        return self.exists(*split_annotated(annotated))

    def put(self, kind: str, subfolder: str, name: str, data: bytes) -> None:
        sub = norm_subfolder(subfolder)
        self._files[(kind, sub, name)] = data
        # Remember `<prefix>_<digits>_` so the next save continues the counter.
        for i, ch in enumerate(name):
            if ch == "_":
                digits = name[i + 1:].split("_")[0]
                if digits.isdigit():
                    key = (kind, sub, name[:i])
                    self._counters[key] = max(self._counters.get(key, 0), int(digits))

    def next_counter(self, kind: str, subfolder: str, prefix: str) -> int:
        return self._counters.get((kind, norm_subfolder(subfolder), prefix), 0) + 1

    def names(self, kind: str, subfolder: str = "") -> list[str]:
        sub = norm_subfolder(subfolder)
        return sorted(n for (k, s, n) in self._files if k == kind and s == sub)

    def clear(self, kind: str) -> None:
        for key in [k for k in self._files if k[0] == kind]:
            del self._files[key]
        for key in [k for k in self._counters if k[0] == kind]:
            del self._counters[key]

    def upload(self, kind: str, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str:
        """Store an upload like `/upload/image`; returns the name used.

        Without overwrite, a different file of the same name gets ` (1)`, ` (2)`, ...
        and an identical one is not stored again (its existing name is returned).
        """
        sub = norm_subfolder(subfolder)
        name = filename
        if not overwrite:
            stem, ext = posixpath.splitext(filename)
            i = 1
            digest = hashlib.sha256(data).digest()
            while (kind, sub, name) in self._files:
                if hashlib.sha256(self._files[(kind, sub, name)]).digest() == digest:
                    return name
                name = f"{stem} ({i}){ext}"
                i += 1
        self.put(kind, sub, name, data)
        return name
