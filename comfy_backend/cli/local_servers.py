"""``ryven-comfy local-servers up|down|status``: run real CPU ComfyUI servers on this machine."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from comfy_backend.local.instances import (
    DEFAULT_BASE_PORT,
    default_state_dir,
    local_servers_status,
    start_local_servers,
    stop_local_servers,
)


def register(subparsers: Any) -> None:
    """Add the ``local-servers`` command (with ``up``, ``down``, ``status``) to ``subparsers``."""
    cmd = subparsers.add_parser(
        "local-servers", help="install and run local CPU ComfyUI servers",
        description="Install ComfyUI 0.3.75 (CPU, once, cached) and run several instances of it locally.")
    sub = cmd.add_subparsers(dest="local_servers_command", metavar="{up,down,status}")
    sub.required = True
    state_help = f"state directory (default: $RYVEN_COMFY_LOCAL_STATE or {default_state_dir()})"

    up = sub.add_parser("up", help="install if needed and start N instances")
    up.add_argument("--count", "-n", type=int, required=True, help="number of instances")
    up.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                    help=f"port of the first instance; the others follow (default {DEFAULT_BASE_PORT})")
    up.add_argument("--state-dir", type=Path, default=None, help=state_help)
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness (default 120)")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop all instances of a state directory")
    down.add_argument("--state-dir", type=Path, default=None, help=state_help)
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="show the recorded instances and whether they answer",
                            description="Exit code 0 if every recorded instance answers, 3 otherwise.")
    status.add_argument("--state-dir", type=Path, default=None, help=state_help)
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")
    status.set_defaults(func=cmd_status)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    """Start (or reuse) ``args.count`` instances; print the servers config path and URLs."""
    state_dir = args.state_dir or default_state_dir()
    servers = start_local_servers(args.count, base_port=args.base_port, state_dir=state_dir,
                                  timeout=args.timeout, progress=_progress)
    print(f"servers config: {Path(state_dir).expanduser().resolve() / 'servers.yaml'}")
    for srv in servers:
        print(f"{srv.id}: {srv.url}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop every instance recorded in the state directory."""
    stopped = stop_local_servers(args.state_dir)
    print(f"stopped {stopped} local ComfyUI instance(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print the recorded instances; exit 0 if every recorded instance answers, else 3."""
    rows = local_servers_status(args.state_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no local servers recorded")
    else:
        for row in rows:
            state = "ready" if row["ready"] else ("starting/unresponsive" if row["alive"] else "stopped")
            pid = f"pid {row['pid']}" if row["pid"] else "no pid"
            print(f"{row['id']:<8} {row['url']:<24} {state:<22} {pid:<10} {row['base_dir']}")
    return 0 if rows and all(r["ready"] for r in rows) else 3
