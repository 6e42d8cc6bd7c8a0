"""``ryven-comfy run PROJECT``: run a project's flows headless, with terminal progress.

The node package (``ryven_comfy_nodes``) is imported only when the command
runs, so importing ``comfy_backend`` stays free of Ryven and Qt.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import resolve_servers, start_backend
from .progress import ProgressDisplay


def register(sub: Any) -> None:
    cmd = sub.add_parser(
        "run", help="run a project's flows without the GUI",
        description="Run every flow of a project (.orchestrator.json, or a Ryven project you trust: "
                    "Ryven projects are unpickled) across the servers and save the outputs.")
    cmd.add_argument("project", help="project file (.orchestrator.json or a Ryven .json project)")
    cmd.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                     help="set a parameter of a node (by node title; 'Title#2' for repeated titles); repeatable")
    cmd.add_argument("--servers", help="servers config (YAML or JSON)")
    cmd.add_argument("--out", default="ryven-comfy-outputs", help="folder for the outputs (default ./ryven-comfy-outputs)")
    cmd.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    cmd.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    cmd.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from ryven_comfy_nodes.headless import apply_assignment, open_project, report, run_flows

    _session, flows = open_project(args.project)
    for expr in args.set:
        apply_assignment(flows, expr)
    config = resolve_servers(args.servers)
    orch = start_backend(config)
    display = ProgressDisplay()
    out_dir = Path(args.out)
    try:
        runs = run_flows(orch, flows, on_tick=display.update, timeout=args.timeout, out_dir=out_dir)
        rows = report(orch, flows, out_dir)
    finally:
        orch.close()
    ok = all(r.ok for r in runs)
    if args.json:
        print(json.dumps({"ok": ok, "nodes": rows}, indent=2))
    else:
        n_files = sum(len(r["outputs"]) for r in rows)
        done = sum(r["status"] in ("done", "saved") for r in rows)
        print(f"{done}/{len(rows)} nodes succeeded; {n_files} output file(s) in {out_dir.resolve()}")
        for r in rows:
            if r["error"]:
                print(f"{r['title']}: {r['status']}: {r['error']}", file=sys.stderr)
    return 0 if ok else 1
