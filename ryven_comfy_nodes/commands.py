"""The ``ryven-comfy`` commands that need the node package: ``editor [PROJECT]`` and ``run PROJECT``.

They are registered with the core's console script through the entry-point group
``ryven_comfy.commands`` (see pyproject.toml), so ``comfy_backend`` never imports
this package. Ryven and Qt are imported only when a command runs: ``ryven-comfy
--help`` and the core commands stay fast.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from comfy_backend import Orchestrator, WorkflowError, configured_servers_file, resolve_servers_config

TRUST_HELP = ("open a Ryven project even though it holds pickled node state (unpickling can run code: "
              "only for files you trust; .orchestrator.json projects never need it)")


def _progress(line: str) -> None:
    print(line, file=sys.stderr)


# -- editor -------------------------------------------------------------------------------------------
def register_editor(sub: Any) -> None:
    """Add ``editor`` to the console script's subcommands (``sub``: argparse's subparsers)."""
    cmd = sub.add_parser("editor", help="open the Ryven editor with workflow nodes (the main command)",
                         description="Open the Ryven canvas. PROJECT may be a .orchestrator.json (pickle-free) "
                                     "or a Ryven project you trust (Ryven projects hold pickled state: the editor asks "
                                     "before opening one, unless --trust-pickles).")
    cmd.add_argument("project", nargs="?", help="project to open")
    cmd.add_argument("--servers", help="servers config; default: $RYVEN_COMFY_SERVERS, "
                                       "~/.config/ryven-comfy/servers.yaml, else local CPU servers")
    cmd.add_argument("--local", type=int, default=3, metavar="N",
                     help="local CPU servers to start when none are configured (default 3)")
    cmd.add_argument("--trust-pickles", action="store_true", help=TRUST_HELP)
    cmd.add_argument("--run", action="store_true", help="run the flow once the window is shown")
    cmd.add_argument("--screenshot", metavar="FILE",
                     help="fit the view (run the flow with --run, wait for its end), save a PNG of the window "
                          "and exit: 0 when every node succeeded, 1 otherwise")
    cmd.add_argument("--size", metavar="WxH", help="window size, e.g. 1600x1000")
    cmd.set_defaults(func=cmd_editor)


def cmd_editor(args: argparse.Namespace) -> int:
    """The Ryven canvas with our nodes, docks and servers; local CPU servers when none are configured."""
    if args.project and not Path(args.project).is_file():  # bad input first, before starting servers
        raise WorkflowError(f"{args.project}: project file not found")
    size = None
    if args.size:
        os.environ.setdefault("QT_API", "pyside6")  # before qtpy is first imported
        from .gui_screenshot import parse_size

        try:
            size = parse_size(args.size)
        except ValueError as exc:
            raise WorkflowError(str(exc)) from exc
    if args.project:
        from .launcher import check_project  # reads the file's structure; unpickles nothing

        check_project(args.project)
    # Nothing configured and no local servers running: the window opens at once and they are
    # installed and started in the background, with their progress in it (first run).
    found = configured_servers_file(args.servers, args.local, _progress)
    config = resolve_servers_config(found) if found is not None else None
    if config is None:
        _progress(f"no servers configured: opening the editor; {args.local} local CPU ComfyUI servers start "
                  "in the background (the first time installs ComfyUI, about a minute)")
    from .launcher import run_editor  # Qt and Ryven are imported here, not at module import

    return run_editor(config, args.project, trust_pickles=args.trust_pickles, screenshot=args.screenshot,
                      run=args.run, size=size, local=args.local)


# -- run PROJECT --------------------------------------------------------------------------------------
def register_run(sub: Any) -> None:
    """Add ``run PROJECT`` to the console script's subcommands (``sub``: argparse's subparsers)."""
    cmd = sub.add_parser(
        "run", help="run a project's flows without the GUI",
        description="Run every flow of a project (.orchestrator.json, or a Ryven project you trust, with "
                    "--trust-pickles: Ryven projects hold pickled state) across the servers and save the outputs.")
    cmd.add_argument("project", help="project file (.orchestrator.json or a Ryven .json project)")
    cmd.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                     help="set a parameter of a node (by node title; 'Title#2' for repeated titles); repeatable")
    cmd.add_argument("--servers", help="servers config (YAML or JSON)")
    cmd.add_argument("--out", default="ryven-comfy-outputs", help="folder for the outputs (default ./ryven-comfy-outputs)")
    cmd.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    cmd.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    cmd.add_argument("--trust-pickles", action="store_true", help=TRUST_HELP)
    cmd.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Run a project's flows headless with terminal progress; exit 1 when a node did not succeed."""
    from comfy_backend.cli import ProgressDisplay

    from .headless import apply_assignment, open_project, report, run_flows  # imports ryvencore

    _session, flows = open_project(args.project, trust_pickles=args.trust_pickles)  # before any server
    for expr in args.set:
        apply_assignment(flows, expr)
    orch = Orchestrator.open(resolve_servers_config(args.servers))
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
