"""Benchmark — a GUI that never freezes: the editor (offscreen) with 10 fake servers streaming
progress for 100 jobs with image outputs and thumbnails, while a 10 ms timer on the GUI thread
records how late it fires (a stall = the gap between ticks minus 10 ms).

Also: launch-to-window time with the servers already running (a fresh process each time).
The fake servers run at ``--speed`` 0.1: a job's sampler streams its 12 steps over ~2.4 s, as a real
sampler does (at speed 1 a job took a quarter of a second and every node changed on every frame).
Writes ``benchmarks/results/gui.json``. Run: ``.venv/bin/python -m benchmarks.bench_gui [--jobs 100]``.
To see what froze: ``BENCH_GUI_STALLS=1`` prints, for each stall over 50 ms, the GUI thread's Python
frames sampled during it (frames in C++ show as the benchmark's ``processEvents`` line);
``BENCH_GUI_PROFILE=tottime`` prints a cProfile of the run; ``--launches 0 --no-write`` for quick runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from .bench_scale import sampler_prompt, start_fleet
from .common import pct, write_result

TICK_MS = 10
LAUNCH_SCRIPT = """
import os, sys, time
t0 = float(sys.argv[2])
os.environ["QT_API"] = "pyside6"
from qtpy.QtWidgets import QApplication
from comfy_backend import load_servers_config
from ryven_comfy_nodes.launcher import create_editor
app = QApplication(sys.argv[:1])
ed = create_editor(load_servers_config(sys.argv[1]), sys.argv[3], app=app)
ed.show()
app.processEvents()
print("SHOWN", time.time() - t0, flush=True)
os._exit(0)
"""


def servers_yaml(urls: list[str], folder: Path) -> Path:
    path = folder / "servers.yaml"
    lines = ["servers:"] + [f"  - id: fake{i + 1}\n    url: {u}\n    max_concurrent: 2" for i, u in enumerate(urls)]
    path.write_text("\n".join(lines) + "\ndefaults:\n  health_interval: 1.0\n")
    return path


def launch_times(cfg: Path, project: Path, runs: int) -> list[float]:
    """Seconds from process start to the editor window shown (servers already running)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    out = []
    for _ in range(runs):
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", LAUNCH_SCRIPT, str(cfg), str(t0), str(project)],
                              capture_output=True, text=True, env=env, timeout=120)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("SHOWN")), None)
        if line is None:
            raise RuntimeError(f"the editor did not open: {proc.stderr[-1500:]}")
        out.append(float(line.split()[1]))
    return out


def _profiler() -> object:
    """cProfile over the run phase when $BENCH_GUI_PROFILE is set (to find what stalls)."""
    if not os.environ.get("BENCH_GUI_PROFILE"):
        return None
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    return prof


class StallSampler:
    """When $BENCH_GUI_STALLS is set: a thread samples the GUI thread's Python stack every 2 ms, and
    each stall longer than 50 ms is reported with the frames seen most during it (what froze)."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._gui = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.002):
            frame = sys._current_frames().get(self._gui)
            stack = []
            while frame is not None and len(stack) < 40:
                code = frame.f_code
                stack.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), tuple(stack)))

    def report(self, ticks: list[float], limit_ms: float = 50.0) -> None:
        from collections import Counter

        self._stop.set()
        for before, after in pairwise(ticks):
            if (after - before) * 1000 - TICK_MS < limit_ms:
                continue
            inside = [st for t, st in self.samples if before <= t <= after]
            print(f"--- stall {(after - before) * 1000:.0f} ms, {len(inside)} samples")
            tops = Counter(st[0] for st in inside if st)
            incl = Counter(f for st in inside for f in set(st))
            for frame, n in tops.most_common(6):
                print(f"   self {n:4d}  {frame}")
            for frame, n in incl.most_common(18):
                print(f"   incl {n:4d}  {frame}")


def _describe_incomplete(nodes: list, ctx: object) -> None:
    """What never arrived, node by node: the run, the redraw queue's view of the node, each thumbnail's stage."""
    from ryven_comfy_nodes import gui_node

    due = gui_node._QUEUE._due
    print(f"redraw queue: scheduled={gui_node._QUEUE._scheduled} due={len(due)} per_turn={gui_node._QUEUE.per_turn}",
          file=sys.stderr)
    for n in nodes:
        mw = n.gui.item.main_widget
        strip = mw.thumbs
        missing = [t for t in strip.thumbs if not t.loaded]
        if not missing and strip.thumbs:
            continue
        refs = [r for rs in n.run.outputs.values() for r in rs]
        cached = [r in ctx.files._cache for r in refs]  # type: ignore[attr-defined]
        print(f"incomplete: {n.title} {n.run.status.value} {n.run.message!r} outputs={len(refs)} in_cache={cached} "
              f"pending={mw._pending} relayout_due={mw._relayout_due} queued={id(mw) in due} "
              f"shown_refs={len(strip._shown)} thumbs "
              f"{[(t.data is not None, t.shown, t.text(), t.toolTip()) for t in missing]}", file=sys.stderr)


def run_in_editor(cfg: Path, jobs: int, folder: Path, timeout: float = 600.0) -> dict:
    """The 100-job run inside one editor; returns the stall figures."""
    os.environ["QT_API"] = "pyside6"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["RYVEN_COMFY_EDITOR_SETTINGS"] = str(folder / "editor.ini")
    os.environ["RYVEN_COMFY_AUTOSAVE_DIR"] = str(folder / "autosave")
    from qtpy.QtCore import QElapsedTimer, QTimer
    from qtpy.QtWidgets import QApplication

    from comfy_backend import load_servers_config
    from ryven_comfy_nodes import gui_editor
    from ryven_comfy_nodes.context import current_context
    from ryven_comfy_nodes.launcher import create_editor

    app = QApplication(sys.argv[:1])
    editor = create_editor(load_servers_config(cfg), None, app=app)
    editor.resize(1600, 1000)
    editor.show()
    wf = folder / "sampler.json"
    wf.write_text(json.dumps(sampler_prompt(0)))
    ctx = current_context()
    deadline = time.monotonic() + 60
    while len([s for s in ctx.servers.values() if s.health.value == "online"]) < 10 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    nodes = [gui_editor.add_workflow_from_file(editor, wf, f"sampler {i}") for i in range(jobs)]
    for i, n in enumerate(nodes):  # a grid, as a user would lay them out (not stacked at one spot)
        n.gui.item.setPos(400 + (i % 10) * 420, 300 + (i // 10) * 520)
    gui_editor.fit_flow(editor)
    settle = time.monotonic() + 1.0  # the first paint of the fitted flow is not part of the run
    while time.monotonic() < settle:
        app.processEvents()
        time.sleep(0.005)
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]
    sampler = StallSampler() if os.environ.get("BENCH_GUI_STALLS") else None
    ticks = [time.perf_counter()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now
        ticks.append(time.perf_counter())

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    began = time.monotonic()
    profiler = _profiler()
    run = ctx.runner.run_nodes(nodes)

    def thumbs_loaded() -> bool:
        strips = [n.gui.item.main_widget.thumbs for n in nodes]
        return all(s.thumbs and all(t.loaded for t in s.thumbs) for s in strips)

    while not (run.finished and thumbs_loaded()) and time.monotonic() - began < timeout:
        app.processEvents()
        time.sleep(0.001)
    seconds = time.monotonic() - began
    timer.stop()
    if not (run.finished and thumbs_loaded()):  # say what never arrived rather than report a timeout as a run
        print(f"timed out after {seconds:.0f} s: run finished={run.finished}", file=sys.stderr)
        _describe_incomplete(nodes, ctx)
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_GUI_PROFILE", "tottime")).print_stats(45)
    if sampler is not None:
        sampler.report(ticks)
    stalls = [max(0.0, g - TICK_MS) for g in gaps]
    done = sum(n.run.status == "done" for n in nodes)
    ctx.dispatcher.stop()
    ctx.close()
    return {"jobs": jobs, "done": done, "seconds": round(seconds, 1), "ticks": len(gaps),
            "max_stall_ms": round(max(stalls), 1), "p99_stall_ms": round(pct(stalls, 0.99), 1),
            "p50_stall_ms": round(pct(stalls, 0.5), 1), "stalls_over_50ms": sum(x > 50 for x in stalls)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--speed", type=float, default=0.1, help="fake servers' speed (0.1: a job streams over ~2.4 s)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every job and thumbnail")
    ap.add_argument("--no-write", action="store_true", help="print the figures only (profiling runs)")
    a = ap.parse_args()
    fleet, urls = start_fleet(10, a.speed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            cfg = servers_yaml(urls, folder)
            project = Path(__file__).resolve().parents[1] / "example_projects" / "cpu_chain.orchestrator.json"
            launches = launch_times(cfg, project, a.launches)
            figures = run_in_editor(cfg, a.jobs, folder, a.timeout)
    finally:
        assert fleet.stdin is not None
        fleet.stdin.close()
        fleet.wait(timeout=30)
    if launches:
        figures["launch_to_window_s"] = {"median": round(sorted(launches)[len(launches) // 2], 2),
                                         "all": [round(x, 2) for x in launches]}
    figures["goals"] = {"max_stall_ms": 50, "launch_to_window_s": 3}
    figures["fake_speed"] = a.speed
    figures["notes"] = ("100 workflow nodes laid out in a grid and fitted into one view, all busy at once, charts, "
                        "servers, jobs and log docks visible; the fake servers run at speed 0.1, so a job's sampler "
                        "streams its 12 steps over ~2.4 s like a real one (at speed 1 every node changed on every "
                        "frame). The runner starts jobs in 8 ms slices per turn, node redraws go through a "
                        "frame-budgeted queue, node bodies are cached and clip their children, the GC's full passes "
                        "skip the objects alive at run start, GIL switch interval 1 ms. Left over the goal in some runs: "
                        "frames where several nodes re-lay out at once (uncached titles, Ryven's Python node bounds, "
                        "each call waiting for the GIL while the backend's thread works). The machine is shared "
                        "(2 cores): the figures move with colleagues' test runs")
    print(json.dumps(figures, indent=2))
    if not a.no_write:
        print(f"written {write_result('gui', figures)}")
    os._exit(0)  # Ryven's singletons and Qt objects: no orderly teardown needed


if __name__ == "__main__":
    main()
