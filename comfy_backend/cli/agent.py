"""``ryven-comfy agent install --comfy-dir DIR``: copy the monitoring agent into a ComfyUI install."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..agent import AGENT_ROUTE, install_agent
from ..errors import ConfigError


def register(sub: Any) -> None:
    cmd = sub.add_parser("agent", help="the optional monitoring agent for ComfyUI servers")
    a = cmd.add_subparsers(dest="agent_command", metavar="{install}")
    a.required = True
    ins = a.add_parser("install", help="copy the agent into a ComfyUI folder's custom_nodes (restart ComfyUI after)")
    ins.add_argument("--comfy-dir", required=True,
                     help="the ComfyUI folder (holding custom_nodes/), or its --base-directory")
    ins.set_defaults(func=cmd_install)


def custom_nodes_of(comfy_dir: Path) -> Path:
    """``DIR/custom_nodes``, or DIR itself when it is a custom_nodes folder."""
    comfy_dir = comfy_dir.expanduser()
    if comfy_dir.name == "custom_nodes" and comfy_dir.is_dir():
        return comfy_dir
    if not (comfy_dir / "custom_nodes").is_dir():
        raise ConfigError(f"{comfy_dir}: no custom_nodes folder here (pass ComfyUI's folder or its --base-directory)")
    return comfy_dir / "custom_nodes"


def cmd_install(args: argparse.Namespace) -> int:
    target = install_agent(custom_nodes_of(Path(args.comfy_dir)))
    print(f"installed {target}")
    print(f"restart ComfyUI; then GET {AGENT_ROUTE} answers and ryven-comfy shows CPU/GPU use for that server")
    return 0
