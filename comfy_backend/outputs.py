"""Saving fetched outputs: atomically, never outside the output folder, never over another file.

A server chooses the names of its files, so every name is cleaned (no ``..``, no absolute
paths, no control characters) and shortened to what the file system takes; a name taken
by a folder (or a folder name taken by a file) gets ``_1``, ``_2``… A file is first written
to ``.part-<pid>-<random>`` in its folder and linked to its name only when complete; a part
left by a killed run is removed on the next save into that folder. Write failures (disk
full, no permission) become one OutputWriteError naming the file, never a traceback.
"""
from __future__ import annotations

import asyncio
import errno
import os
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from .errors import OutputPathError, OutputWriteError
from .models import OutputRef

#: receives the downloaded bytes chunk by chunk
Sink = Callable[[bytes], Awaitable[None]]
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*\\]")
#: bytes per path component (NAME_MAX is 255 on Linux, macOS and Windows file systems);
#: room is kept for the ``_12345`` a taken name gets
_NAME_BYTES = 240
#: bytes of the whole relative path; deeper server subfolders are cut from the top
_PATH_BYTES = 1024
_PART_PREFIX = ".part-"
#: a part file from before part names carried a pid is stale after this long
_LEGACY_PART_AGE = 600.0
_cleaned: set[Path] = set()
_cleaned_lock = threading.Lock()


def _shorten(name: str, limit: int = _NAME_BYTES) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes, keeping its extension (a short one)."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    suffix = "." + ext if ext else ""
    room = limit - len(suffix.encode("utf-8")) - 1  # "~" marks the cut
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return f"{cut}~{suffix}"


def _clean_part(part: str) -> str:
    return _shorten(_UNSAFE.sub("_", part).strip().strip("."))


def safe_relative_path(subfolder: str, filename: str) -> Path:
    """The relative path to store a server's file at, with every dangerous piece removed.

    ``..``, absolute paths, drive letters, backslashes and control characters in a
    server-given name never reach the file system; over-long names are shortened.
    """
    parts: list[str] = []
    for raw in (subfolder or "").replace("\\", "/").split("/"):
        p = _clean_part(raw)
        if p and p not in (".", ".."):
            parts.append(p)
    name = _clean_part(os.path.basename((filename or "").replace("\\", "/")))
    if not name or name in (".", ".."):
        raise OutputPathError(f"server gave an unusable output filename {filename!r}")
    while parts and len("/".join([*parts, name]).encode("utf-8")) > _PATH_BYTES:
        parts.pop(0)
    return Path(*parts, name)


def _numbered(path: Path, n: int) -> Path:
    return path.with_name(f"{path.stem}_{n}{path.suffix}")


def _make_folders(out_dir: Path, rel_parent: Path) -> Path:
    """Create ``out_dir/rel_parent``; a component taken by a file becomes ``name_1``…"""
    here = out_dir
    here.mkdir(parents=True, exist_ok=True)
    for part in rel_parent.parts:
        candidate = here / part
        for n in range(1, 1000):
            try:
                candidate.mkdir()
            except FileExistsError:
                pass
            if candidate.is_dir() and not candidate.is_symlink():
                break
            candidate = here / f"{part}_{n}"
        else:
            raise OutputPathError(f"too many files named like {part!r} in {here}")
        here = candidate
    return here


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_parts(folder: Path) -> int:
    """Remove ``.part-*`` files a killed run left in ``folder``; returns how many.

    Parts of a process still alive (another run saving into the same folder) stay.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(_PART_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        pid_text = entry.name[len(_PART_PREFIX):].split("-", 1)[0]
        try:
            stale = not _pid_alive(int(pid_text))
        except ValueError:  # an older part name without a pid
            try:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_PART_AGE
            except OSError:
                continue
        if stale:
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _clean_once(folder: Path) -> None:
    with _cleaned_lock:
        if folder in _cleaned:
            return
        _cleaned.add(folder)
    clean_stale_parts(folder)


def _write_error(exc: OSError, target: Path) -> OutputWriteError:
    if exc.errno == errno.ENOSPC:
        return OutputWriteError(f"cannot write {target}: the disk is full")
    if exc.errno == errno.EDQUOT:
        return OutputWriteError(f"cannot write {target}: disk quota exceeded")
    return OutputWriteError(f"cannot write {target}: {exc.strerror or exc}")


class PartFile:
    """An output being written: a ``.part-`` file next to its final place, linked there by :meth:`commit`."""

    def __init__(self, ref: OutputRef, out_dir: Path) -> None:
        out_dir = Path(out_dir).resolve()
        rel = safe_relative_path(ref.subfolder, ref.filename)
        try:
            folder = _make_folders(out_dir, rel.parent)
        except OSError as exc:
            raise _write_error(exc, out_dir / rel) from None
        target = (folder / rel.name).resolve()
        if out_dir != target and out_dir not in target.parents:
            raise OutputPathError(f"output {ref.filename!r} would be written outside {out_dir}")
        self.target = target
        _clean_once(folder)
        self.path = folder / f"{_PART_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            # 0o666 minus the umask: the modes any other program's new files get.
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise _write_error(exc, target) from None

    def write(self, data: bytes) -> None:
        """Append ``data`` (blocking; call it off the event loop)."""
        assert self._fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.target) from None

    def commit(self) -> Path:
        """Flush, then link the part to the first free name (``x.png``, ``x_1.png``…); the final path."""
        assert self._fd is not None
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            candidate = self.target
            for n in range(1, 100000):
                try:
                    os.link(self.path, candidate)  # atomic, and fails rather than overwrite
                    return candidate
                except FileExistsError:
                    candidate = _numbered(self.target, n)
            raise OutputPathError(f"too many files named like {self.target.name} in {self.target.parent}")
        except OSError as exc:
            raise _write_error(exc, self.target) from None
        finally:
            self.discard()

    def discard(self) -> None:
        """Close and remove the part file (after commit, or when the download failed)."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def save_output(data: bytes, ref: OutputRef, out_dir: Path) -> Path:
    """Write ``data`` to ``out_dir/<subfolder>/<filename>``; a taken name gets ``_1``, ``_2``… appended."""
    part = PartFile(ref, out_dir)
    try:
        part.write(data)
        return part.commit()
    finally:
        part.discard()


async def download_output(stream: Callable[[Sink], Awaitable[int]], ref: OutputRef, out_dir: Path) -> Path:
    """Save an output streamed by ``stream(sink)`` (e.g. ``client.view_to(..., sink)``); its final path.

    Chunks go straight to the part file from a worker thread, so memory stays flat
    whatever the size, and the event loop never waits on the disk.
    """
    loop = asyncio.get_running_loop()
    part = await loop.run_in_executor(None, PartFile, ref, out_dir)
    try:
        async def sink(chunk: bytes) -> None:
            await loop.run_in_executor(None, part.write, chunk)

        await stream(sink)
        return await loop.run_in_executor(None, part.commit)
    finally:
        part.discard()
