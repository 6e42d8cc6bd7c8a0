"""``ryven-comfy servers status``: health, queue, latency and memory of every server."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..discovery import resolve_servers_config
from ..runtime import Orchestrator
from ..safe_text import sanitize_line


def register(sub: Any) -> None:
    cmd = sub.add_parser("servers", help="inspect the configured ComfyUI servers")
    s = cmd.add_subparsers(dest="servers_command", metavar="{status}")
    s.required = True
    st = s.add_parser("status", help="per server: id, url, state, queue, latency, VRAM")
    st.add_argument("--servers", help="servers config (YAML or JSON)")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_status)


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.1f}G"


def cmd_status(args: argparse.Namespace) -> int:
    config = resolve_servers_config(args.servers)
    with Orchestrator(config).start(wait_checked=True) as orch:
        snaps = orch.servers()
    if args.json:
        print(json.dumps({"servers": [s.to_dict() for s in snaps]}, indent=2))
    else:
        rows = [("ID", "URL", "STATE", "QUEUE", "FOREIGN", "LATENCY", "VRAM FREE/TOTAL", "VERSION")]
        for s in snaps:
            lat = "-" if s.latency_ms is None else f"{s.latency_ms:.0f}ms"
            rows.append((
                s.id, s.url, s.health.value, str(s.queue_running + s.queue_pending), str(s.foreign_queued), lat,
                f"{_gib(s.vram_free)}/{_gib(s.vram_total)}", sanitize_line(s.comfyui_version or "-", max_chars=40),
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        for s in snaps:
            if s.last_error:
                print(f"{s.id}: {sanitize_line(s.last_error)}")  # server text: never raw on the terminal
    return 0 if any(s.health.value in ("online", "degraded") for s in snaps) else 1
