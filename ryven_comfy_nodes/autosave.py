"""Autosave: the flows as ``.orchestrator.json`` files, keeping the last few versions."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .project_format import SUFFIX, OrchestratorProject, save_orchestrator

PREFIX = "autosave-"


def default_autosave_dir() -> Path:
    """``$RYVEN_COMFY_AUTOSAVE_DIR``, else ``~/.local/share/ryven-comfy/autosave``."""
    env = os.environ.get("RYVEN_COMFY_AUTOSAVE_DIR")
    return Path(env).expanduser() if env else Path("~/.local/share/ryven-comfy/autosave").expanduser()


class Autosaver:
    """Writes a new version only when the project changed; keeps the newest ``keep`` versions."""

    def __init__(self, folder: Path | None = None, keep: int = 5) -> None:
        self.folder = folder or default_autosave_dir()
        self.keep = keep
        self._last: str | None = None

    def versions(self) -> list[Path]:
        """Saved versions, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"{PREFIX}*{SUFFIX}"))

    def save(self, project: OrchestratorProject) -> Path | None:
        """Save if changed since the last save; returns the new file or None."""
        text = project.model_dump_json()
        if text == self._last:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
        path = self.folder / f"{PREFIX}{stamp}{SUFFIX}"
        save_orchestrator(project, path)
        self._last = text
        for old in self.versions()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path
