"""Saving fetched outputs: atomically, never outside the output folder, never over another file."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .errors import OutputPathError
from .models import OutputRef

_UNSAFE = re.compile(r"[\x00-\x1f<>:\"|?*\\]")


def _clean_part(part: str) -> str:
    part = _UNSAFE.sub("_", part).strip().strip(".")
    return part


def safe_relative_path(subfolder: str, filename: str) -> Path:
    """The relative path to store a server's file at, with every dangerous piece removed.

    ``..``, absolute paths, drive letters, backslashes and control characters in a
    server-given name never reach the file system.
    """
    parts: list[str] = []
    for raw in (subfolder or "").replace("\\", "/").split("/"):
        p = _clean_part(raw)
        if p and p not in (".", ".."):
            parts.append(p)
    name = _clean_part(os.path.basename((filename or "").replace("\\", "/")))
    if not name or name in (".", ".."):
        raise OutputPathError(f"server gave an unusable output filename {filename!r}")
    return Path(*parts, name)


def save_output(data: bytes, ref: OutputRef, out_dir: Path) -> Path:
    """Write ``data`` to ``out_dir/<subfolder>/<filename>``; a taken name gets ``_1``, ``_2``… appended."""
    out_dir = Path(out_dir).resolve()
    rel = safe_relative_path(ref.subfolder, ref.filename)
    target = (out_dir / rel).resolve()
    if out_dir != target and out_dir not in target.parents:
        raise OutputPathError(f"output {ref.filename!r} would be written outside {out_dir}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        stem, suffix = target.stem, target.suffix
        candidate = target
        for n in range(1, 100000):
            try:
                os.link(tmp, candidate)  # atomic, and fails rather than overwrite
                return candidate
            except FileExistsError:
                candidate = target.with_name(f"{stem}_{n}{suffix}")
        raise OutputPathError(f"too many files named like {target.name} in {target.parent}")
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
