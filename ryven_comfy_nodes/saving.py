"""Saving the files carried by connection values into a folder, off the flow's thread."""
from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comfy_backend.models import OutputRef
from comfy_backend.outputs import save_output
from comfy_backend.runtime import Orchestrator

from .values import refs_of

if TYPE_CHECKING:
    from .context import AppContext

log = logging.getLogger(__name__)

_pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="ryven-comfy-save")


def save_values(orch: Orchestrator, values: list[Any], folder: Path, timeout: float = 600.0) -> list[str]:
    """Fetch and save every file in ``values`` into ``folder`` (blocking); returns the paths written."""
    paths: list[str] = []
    for value in values:
        if isinstance(value, dict) and value.get("comfy") == "file":
            src = Path(value["path"])
            ref = OutputRef(server="local", node_id="file", filename=src.name, subfolder="", type="input")
            paths.append(str(save_output(src.read_bytes(), ref, folder)))
            continue
        for ref in refs_of(value):
            data = orch.fetch_output(ref).result(timeout)
            paths.append(str(save_output(data, ref, folder)))
    return paths


def save_values_async(ctx: AppContext, values: list[Any], folder: Path,
                      done: Callable[[list[str] | None, str | None], None]) -> None:
    """``save_values`` on a worker; ``done(paths, error)`` runs on the flow's thread."""
    fut = _pool.submit(save_values, ctx.orch, values, folder)

    def finished(f: cf.Future[list[str]]) -> None:
        try:
            paths = f.result()
        except Exception as exc:
            msg = str(exc) or type(exc).__name__
            ctx.post(lambda: done(None, msg))
            return
        ctx.post(lambda: done(paths, None))

    fut.add_done_callback(finished)
