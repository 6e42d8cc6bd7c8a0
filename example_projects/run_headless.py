"""Run a ryven-comfy project from Python with ryvencore only (no Qt), like ``ryven-comfy run``.

    python example_projects/run_headless.py example_projects/cpu_chain.orchestrator.json \
        --servers ~/.cache/ryven-comfy/local-servers/servers.yaml --out outputs

The project's flows are loaded into a ryvencore Session; nodes can be changed
from code before the run (here: the Number node feeding the colour).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ryvencore import Data

from comfy_backend import Orchestrator, WorkflowError, resolve_servers_config
from ryven_comfy_nodes.headless import open_project, report, run_flows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--servers")
    ap.add_argument("--out", default="ryven-comfy-outputs")
    ap.add_argument("--trust-pickles", action="store_true",
                    help="open a Ryven project holding pickled node state (unpickling can run code: trusted files only)")
    ap.add_argument("--colour", type=lambda s: int(s, 0), default=None, help="e.g. 0x336699 for the Number node")
    args = ap.parse_args()

    try:  # a ryvencore Session with the project's flows; Ryven projects with pickles only when trusted
        session, flows = open_project(args.project, trust_pickles=args.trust_pickles)
    except WorkflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.colour is not None:
        for node in flows[0].nodes:
            if node.title == "Number":
                node.inputs[0].default = Data(args.colour)
    orch = Orchestrator.open(resolve_servers_config(args.servers))  # the pool runs on its own thread
    try:
        runs = run_flows(orch, flows, out_dir=Path(args.out))  # branches in parallel; waits here
        rows = report(orch, flows, Path(args.out))
    finally:
        orch.close()
    print(json.dumps(rows, indent=2))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
