"""Saving the files carried by connection values into a folder, without waiting on the flow's thread."""
from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path
from typing import Any

from comfy_backend import Orchestrator, OutputRef, save_output

from .threads import all_done, mapped, resolved
from .values import refs_of


def save_values(orch: Orchestrator, values: list[Any], folder: Path) -> cf.Future[list[str]]:
    """Save every file in ``values`` into ``folder``; the future gives the paths written, in order.

    Produced files are downloaded and written by the backend (``Orchestrator.save_outputs``);
    local files (an Image file node's value) are copied at once. Raises OSError for an
    unreadable local file.
    """
    parts: list[cf.Future[list[str]]] = []
    for value in values:
        if isinstance(value, dict) and value.get("comfy") == "file":
            src = Path(value["path"])
            ref = OutputRef(server="local", node_id="file", filename=src.name, subfolder="", type="input")
            parts.append(resolved([str(save_output(src.read_bytes(), ref, folder))]))
        else:
            parts.append(mapped(orch.save_outputs(refs_of(value), folder), lambda paths: [str(p) for p in paths]))
    return mapped(all_done(parts), lambda lists: [p for part in lists for p in part])
