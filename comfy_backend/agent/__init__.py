"""The optional monitoring agent: a tiny ComfyUI custom node package shipped as package data.

``ryven_comfy_agent/`` is copied into a server's ``custom_nodes`` folder
(``ryven-comfy agent install --comfy-dir DIR``); ComfyUI then serves the read-only
route ``GET /ryven_comfy/stats`` (CPU, RAM, GPU use, VRAM, temperature). The core
never imports the package: it only polls the route (``server.py``).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError

#: the folder name inside ``custom_nodes``
AGENT_DIR_NAME = "ryven_comfy_agent"
#: the route the agent adds; the pool polls it when present
AGENT_ROUTE = "/ryven_comfy/stats"


def agent_source_dir() -> Path:
    """The agent's custom-node folder inside this package."""
    return Path(__file__).resolve().parent / AGENT_DIR_NAME


def install_agent(custom_nodes: Path) -> Path:
    """Copy the agent into ``custom_nodes`` (replacing an older copy atomically); its new path.

    Raises ConfigError when the folder does not exist or cannot be written.
    """
    custom_nodes = Path(custom_nodes).expanduser()
    if not custom_nodes.is_dir():
        raise ConfigError(f"{custom_nodes}: no such folder (expected ComfyUI's custom_nodes folder)")
    target = custom_nodes / AGENT_DIR_NAME
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{AGENT_DIR_NAME}-", dir=custom_nodes))
        staged = tmp / AGENT_DIR_NAME
        shutil.copytree(agent_source_dir(), staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        old = None
        if target.exists():
            old = tmp / "old"
            target.rename(old)  # swapped in two renames: ComfyUI never sees a half-copied folder
        staged.rename(target)
        shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise ConfigError(f"{custom_nodes}: cannot install the agent: {exc.strerror or exc}") from None
    return target
