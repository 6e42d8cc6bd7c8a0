"""Bytes of produced files for the front: fetched from the server that made them, cached, delivered on the flow's thread."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfy_backend import Orchestrator, OutputRef

from .threads import Post, when_done
from .values import refs_of

CACHE_BYTES = 256 * 2**20
#: ``callback(data, error)``: exactly one of them is None
BytesCallback = Callable[[bytes | None, str | None], None]


class OutputFiles:
    """Fetches produced files through the backend and keeps the most recent ones (up to ``CACHE_BYTES``)."""

    def __init__(self, orch: Orchestrator, post: Post) -> None:
        self.orch = orch
        self.post = post
        self._cache: OrderedDict[OutputRef, bytes] = OrderedDict()
        self._cache_bytes = 0

    def fetch_bytes(self, ref: OutputRef, callback: BytesCallback) -> None:
        """Get a produced file's bytes; ``callback(data, error)`` runs on the flow's thread."""
        if ref in self._cache:
            self._cache.move_to_end(ref)
            callback(self._cache[ref], None)
            return
        when_done(self.orch.fetch_output(ref), self.post,
                  lambda data: self._cached(ref, data, callback),
                  lambda exc: callback(None, str(exc) or type(exc).__name__))

    def _cached(self, ref: OutputRef, data: bytes, callback: BytesCallback) -> None:
        self._cache[ref] = data
        self._cache_bytes += len(data)
        while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)
        callback(data, None)


def fetch_image_source(files: OutputFiles | None, value: Any,
                       callback: Callable[[bytes | None, str | None, str], None]) -> None:
    """The bytes of an image source (see ``values``): the first produced file, or a local file.

    ``callback(data, error, filename)`` runs on the flow's thread; a produced file needs ``files``
    (the backend fetches it from the server that made it), a local file is read at once.
    """
    refs = refs_of(value)
    if refs:
        ref = refs[0]
        name = f"ryven-comfy-{ref.server}-{Path(ref.filename).name}"
        if files is None:
            callback(None, "no servers configured", name)
        else:
            files.fetch_bytes(ref, lambda d, e: callback(d, e, name))
        return
    path = Path(value["path"])
    try:
        data: bytes | None = path.read_bytes()
        err = None
    except OSError as exc:
        data, err = None, f"{path}: {exc.strerror}"
    callback(data, err, path.name)
