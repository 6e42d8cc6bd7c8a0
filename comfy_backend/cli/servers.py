"""``ryven-comfy servers status`` and ``servers watch``: every server's state, queue, load and speed."""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

from ..discovery import resolve_servers_config
from ..errors import ConfigError
from ..models import Health, ServerSnapshot
from ..runtime import Orchestrator
from ..safe_text import sanitize_line

#: ANSI: cursor home + clear to end of screen (the watch table is redrawn in place on a terminal)
_HOME_CLEAR = "\x1b[H\x1b[J"


def register(sub: Any) -> None:
    cmd = sub.add_parser("servers", help="inspect the configured ComfyUI servers")
    s = cmd.add_subparsers(dest="servers_command", metavar="{status,watch}")
    s.required = True
    st = s.add_parser("status", help="per server: id, url, state, queue, latency, VRAM")
    st.add_argument("--servers", help="servers config (YAML or JSON)")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_status)
    w = s.add_parser("watch", help="a live table: per server load, queue, speed; pool totals")
    w.add_argument("--servers", help="servers config (YAML or JSON)")
    w.add_argument("--interval", type=float, default=2.0, help="seconds between redraws (default 2)")
    w.add_argument("--once", action="store_true", help="print one snapshot and exit")
    w.add_argument("--json", action="store_true", help="with --once: print JSON")
    w.set_defaults(func=cmd_watch)


def _gib(n: float | None) -> str:
    return "-" if n is None else f"{n / 2**30:.1f}G"


def _used(total: int | None, free: int | None) -> str:
    return "-" if total is None or free is None else f"{_gib(total - free)}/{_gib(total)}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%"


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
        _print_rows(rows, sys.stdout)
        for s in snaps:
            if s.last_error:
                print(f"{s.id}: {sanitize_line(s.last_error)}")  # server text: never raw on the terminal
    return 0 if any(s.health.value in ("online", "degraded") for s in snaps) else 1


def _print_rows(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def pool_totals(snaps: Sequence[ServerSnapshot]) -> dict[str, Any]:
    """Sums over the pool (online servers' figures only for memory and load)."""
    up = [s for s in snaps if s.health in (Health.ONLINE, Health.DEGRADED)]
    means = [s.mean_run_seconds for s in up if s.mean_run_seconds is not None]
    return {
        "servers": len(snaps), "online": len(up),
        "in_flight": sum(s.in_flight for s in snaps),
        "queue_ours": sum(max(s.queue_running + s.queue_pending - s.foreign_queued, 0) for s in up),
        "queue_others": sum(s.foreign_queued for s in up),
        "completed": sum(s.completed for s in snaps), "failed": sum(s.failed for s in snaps),
        "retried": sum(s.retried for s in snaps),
        "jobs_per_minute": round(sum(s.jobs_per_minute for s in up), 3),
        "mean_run_seconds": sum(means) / len(means) if means else None,
    }


def watch_rows(snaps: Sequence[ServerSnapshot], now: float) -> list[tuple[str, ...]]:
    """The watch table (header, one row per server, pool totals), every server text sanitised."""
    rows: list[tuple[str, ...]] = [("SERVER", "STATE", "OURS", "QUEUE ours/others", "LAT", "VRAM", "RAM",
                                    "CPU", "GPU", "JOBS/MIN", "MEAN S", "DONE/FAIL", "VERSION")]
    for s in snaps:
        name = sanitize_line(s.id if s.name == s.id else f"{s.name} ({s.id})", max_chars=40)
        if s.health in (Health.OFFLINE, Health.UNKNOWN, Health.DISABLED):
            seen = "never" if s.last_heartbeat is None else f"{now - s.last_heartbeat:.0f}s ago"
            state = s.health.value if s.health is not Health.OFFLINE else f"offline, seen {seen}"
            rows.append((name, state, "-", "-", "-", "-", "-", "-", "-", f"{s.jobs_per_minute:.1f}", "-",
                         f"{s.completed}/{s.failed}", "-"))
            continue
        ours = max(s.queue_running + s.queue_pending - s.foreign_queued, 0)
        vram = "cpu" if s.is_cpu else _used(s.vram_total, s.vram_free)
        rows.append((
            name, s.health.value, f"{s.in_flight}/{s.max_concurrent}", f"{ours}/{s.foreign_queued}",
            "-" if s.latency_ms is None else f"{s.latency_ms:.0f}ms", vram, _used(s.ram_total, s.ram_free),
            _pct(s.cpu_percent), _pct(s.gpu_percent), f"{s.jobs_per_minute:.1f}",
            "-" if s.mean_run_seconds is None else f"{s.mean_run_seconds:.1f}", f"{s.completed}/{s.failed}",
            sanitize_line(s.comfyui_version or "-", max_chars=20),
        ))
    t = pool_totals(snaps)
    rows.append((f"POOL ({t['online']}/{t['servers']} up)", "", str(t["in_flight"]),
                 f"{t['queue_ours']}/{t['queue_others']}", "", "", "", "", "", f"{t['jobs_per_minute']:.1f}",
                 "-" if t["mean_run_seconds"] is None else f"{t['mean_run_seconds']:.1f}",
                 f"{t['completed']}/{t['failed']}", ""))
    return rows


def render_watch(snaps: Sequence[ServerSnapshot], out: TextIO, now: float, in_place: bool) -> None:
    if in_place:
        out.write(_HOME_CLEAR)
    out.write(f"ryven-comfy servers watch — {time.strftime('%H:%M:%S', time.localtime(now))}  (Ctrl+C to stop)\n")
    _print_rows(watch_rows(snaps, now), out)
    for s in snaps:
        if s.last_error and s.health is not Health.ONLINE:
            out.write(f"{s.id}: {sanitize_line(s.last_error, max_chars=160)}\n")
    out.flush()


def cmd_watch(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ConfigError("--interval must be positive")
    config = resolve_servers_config(args.servers)
    with Orchestrator(config).start(wait_checked=True) as orch:
        if args.once:
            snaps = orch.servers()
            if args.json:
                print(json.dumps({"time": time.time(), "servers": [s.to_dict() for s in snaps],
                                  "pool": pool_totals(snaps)}, indent=2))
            else:
                render_watch(snaps, sys.stdout, time.time(), in_place=False)
            return 0 if any(s.health in (Health.ONLINE, Health.DEGRADED) for s in snaps) else 1
        tty = sys.stdout.isatty()
        stop = threading.Event()
        try:
            while not stop.is_set():
                render_watch(orch.servers(), sys.stdout, time.time(), in_place=tty)
                if not tty:
                    sys.stdout.write("\n")
                stop.wait(args.interval)
        except KeyboardInterrupt:
            return 0
    return 0
