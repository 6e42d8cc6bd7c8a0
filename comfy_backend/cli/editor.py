"""``ryven-comfy editor [PROJECT]``: the Ryven canvas with our nodes, docks and servers.

Qt and Ryven are imported only inside the command, so ``comfy_backend`` stays Qt-free.
With no servers configured, local CPU ComfyUI servers are started first (as ``demo`` does).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import resolve_servers, servers_file_or_local


def register(sub: Any) -> None:
    cmd = sub.add_parser("editor", help="open the Ryven editor with workflow nodes (the main command)",
                         description="Open the Ryven canvas. PROJECT may be a .orchestrator.json (pickle-free) "
                                     "or a Ryven project you trust (Ryven projects are unpickled when opened).")
    cmd.add_argument("project", nargs="?", help="project to open")
    cmd.add_argument("--servers", help="servers config; default: $RYVEN_COMFY_SERVERS, "
                                       "~/.config/ryven-comfy/servers.yaml, else local CPU servers")
    cmd.add_argument("--local", type=int, default=3, metavar="N",
                     help="local CPU servers to start when none are configured (default 3)")
    cmd.set_defaults(func=cmd_editor)


def cmd_editor(args: argparse.Namespace) -> int:
    if args.project and not Path(args.project).is_file():  # bad input first, before starting servers
        from ..errors import WorkflowError

        raise WorkflowError(f"{args.project}: project file not found")
    config = resolve_servers(servers_file_or_local(args.servers, args.local))
    from ryven_comfy_nodes.launcher import run_editor  # Qt is imported here, not at module import

    return run_editor(config, args.project)
