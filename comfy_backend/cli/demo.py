"""``ryven-comfy demo``: a quick check of a pool from the terminal.

Uses the configured servers, or — with none configured — starts local CPU
ComfyUI servers, then runs an example workflow across them and says where the
outputs are. (The main command is ``ryven-comfy editor``.)
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from .. import Orchestrator, Target, example_workflows_dir, resolve_servers_config, servers_file_or_local
from ..workflow import load_api_prompt
from .workflow import run_batch

#: The bundled example workflow the demo runs (package data, see ``comfy_backend.examples``).
EXAMPLE = "cpu_blur_invert_api.json"


def register(sub: Any) -> None:
    cmd = sub.add_parser("demo", help="run an example workflow across the servers (local CPU servers if none configured)")
    cmd.add_argument("--servers", help="servers config; default: $RYVEN_COMFY_SERVERS, ~/.config/ryven-comfy/servers.yaml, else local servers")
    cmd.add_argument("--local", type=int, default=3, metavar="N", help="local CPU servers to start when none are configured (default 3)")
    cmd.add_argument("--count", type=int, default=6, help="runs of the example workflow (default 6)")
    cmd.add_argument("--out", default="ryven-comfy-outputs", help="output folder (default ./ryven-comfy-outputs)")
    cmd.set_defaults(func=cmd_demo)


def _colour_prompts(count: int) -> list[dict[str, Any]]:
    base = load_api_prompt(example_workflows_dir() / EXAMPLE)
    rng = random.Random()
    prompts = []
    for _ in range(count):
        p = {k: {"class_type": v["class_type"], "inputs": dict(v["inputs"])} for k, v in base.items()}
        p["1"]["inputs"]["color"] = rng.randint(0, 0xFFFFFF)  # a new colour: never served from cache
        prompts.append(p)
    return prompts


def cmd_demo(args: argparse.Namespace) -> int:
    servers_file = servers_file_or_local(args.servers, args.local, lambda m: print(m, file=sys.stderr))
    orch = Orchestrator.open(resolve_servers_config(servers_file))
    out = Path(args.out)
    try:
        rows = run_batch(orch, _colour_prompts(args.count), out, target=Target(), label="demo")
    finally:
        orch.close()
    by_server: dict[str, int] = {}
    for r in rows:
        if r["status"] == "succeeded":
            by_server[r["server"]] = by_server.get(r["server"], 0) + 1
    ok = all(r["status"] == "succeeded" for r in rows)
    print(f"{sum(by_server.values())}/{len(rows)} runs succeeded across "
          + ", ".join(f"{k}: {v}" for k, v in sorted(by_server.items())))
    print(f"outputs are in {out.resolve()}")
    return 0 if ok else 1
