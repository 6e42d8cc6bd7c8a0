"""The words of ``RESULTS.md``: one :class:`Section` per benchmark (goal, figures, verdict, rerun command).

Each ``body`` turns a results JSON into Markdown lines and each ``verdict`` says whether the goal
is met, from the figures alone; ``benchmarks.report`` adds the machine, date, load and command.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

R = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """``met``: True / False, or None when the benchmark has no pass/fail threshold; ``why``: the figures."""

    met: bool | None
    why: str


@dataclass(frozen=True)
class Section:
    title: str
    goal: str
    rerun: str
    body: Callable[[R], list[str]]
    verdict: Callable[[R], Verdict]


def _runs(r: R) -> list[R]:
    reps = r.get("repeats")
    return reps if isinstance(reps, list) and reps else [r]


def _each(r: R) -> str:
    """'in both runs' / 'in all 3 runs' / '' (one run)."""
    n = len(_runs(r))
    return "" if n == 1 else (" in both runs" if n == 2 else f" in all {n} runs")


def _x(v: float) -> str:
    return f"{v:.2f}×"


def table_head(*columns: str) -> list[str]:
    """A Markdown table's header row and its separator, one ``---`` per column."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


# ---------------------------------------------------------------- overhead

def overhead_body(r: R) -> list[str]:
    server = r.get("server", "one real local ComfyUI CPU server")
    lines = [f"Trivial prompt (EmptyImage 64² → PreviewImage) on {server}; {r['runs']} runs of each client, "
             "interleaved (direct, pool, direct, …), every prompt a new colour so the server's cache never answers:", "",
             *table_head("run", "direct aiohttp+WS (baseline) median / p90 ms", "ryven-comfy pool median / p90 ms",
                         "ratio at the median")]
    for i, x in enumerate(_runs(r), 1):
        d, p = x["direct_ms"], x["pool_ms"]
        lines.append(f"| {i} | {d['median']:.1f} / {d['p90']:.1f} | {p['median']:.1f} / {p['p90']:.1f} | **{_x(x['ratio_median'])}** |")
    if any(x["ratio_median"] < 1 for x in _runs(r)):
        lines += ["", "A ratio below 1× is noise, not a faster pool: a few milliseconds per prompt on a shared "
                  "server and machine, where the two clients take turns."]
    return lines


def overhead_verdict(r: R) -> Verdict:
    ratios = [x["ratio_median"] for x in _runs(r)]
    bad = [f"run {i}: {_x(v)}" for i, v in enumerate(ratios, 1) if v > 1.2]
    if bad:
        return Verdict(False, "above 1.2× in " + ", ".join(bad))
    return Verdict(True, f"{', '.join(_x(v) for v in ratios)} ≤ 1.2×{_each(r)}")


# ---------------------------------------------------------------- makespan

def makespan_body(r: R) -> list[str]:
    lines = [f"{r['jobs']} jobs of 0.25/0.5/1/2 s of work on 10 fake servers with speeds {r['speeds']}; lower bound "
             f"{r['lower_bound_s']:.2f} s (total work ÷ total speed, or the longest job on the fastest server). "
             f"Each run: the median of {r.get('repeat', 1)} interleaved runs of every policy.", "",
             *table_head("run", "policy", "makespan ÷ lower bound (median)", "makespan s", "every interleaved run")]
    for i, x in enumerate(_runs(r), 1):
        for name, p in x["policies"].items():
            each = ", ".join(f"{v:.3f}" for v in p.get("ratios", []))
            lines.append(f"| {i} | {name} | **{p['median_ratio']:.3f}** | {p['median_makespan_s']:.2f} | {each} |")
    return lines


def makespan_verdict(r: R) -> Verdict:
    problems, figures = [], []
    for i, x in enumerate(_runs(r), 1):
        pol = x["policies"]
        d = pol["default"]["median_ratio"]
        others = {k: v["median_ratio"] for k, v in pol.items() if k != "default"}
        figures.append(f"{d:.3f} vs " + ", ".join(f"{k} {v:.3f}" for k, v in others.items()))
        if d > 1.10:
            problems.append(f"run {i}: default {d:.3f} > 1.10")
        problems += [f"run {i}: default {d:.3f} not ahead of {k} {v:.3f}" for k, v in others.items() if d >= v]
        if any(p.get("failed") for p in pol.values()):
            problems.append(f"run {i}: failed jobs")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, f"default ≤ 1.10× and ahead of both baselines{_each(r)} ({'; '.join(figures)})")


# ---------------------------------------------------------------- failover (SIGKILL)

def failover_body(r: R) -> list[str]:
    rec = r["recovery_s"]
    return [f"{r['jobs']} jobs (EmptyImage 512² → ImageBlur → SaveImage) on 3 real local CPU servers started for the "
            f"run; server {r['victim']} killed (SIGKILL) when a third were done, with {r['jobs_on_victim_at_kill']} "
            "of our jobs on it:", "",
            f"- kill → job finished elsewhere: median {rec['median']:.2f} s, max {rec['max']:.2f} s "
            "(detection plus running the job again)" if rec.get("median") is not None
            else "- no job was on the killed server",
            f"- lost: **{r['lost']}**, reported twice: **{r['duplicated_reports']}**, executed successfully on "
            f"two servers: **{r['duplicated_executions']}**; jobs retried: {r['retried_jobs']}",
            f"- whole batch: {r['batch_seconds']:.1f} s"]


def failover_verdict(r: R) -> Verdict:
    figs = f"{r['lost']} lost, {r['duplicated_reports']} reported twice, {r['duplicated_executions']} executed twice"
    return Verdict(r["lost"] == 0 and r["duplicated_reports"] == 0 and r["duplicated_executions"] == 0, figs)


# ---------------------------------------------------------------- failover --hang (SIGSTOP)

def hang_body(r: R) -> list[str]:
    rec = r["recovery_s"]
    fates = ", ".join(f"{k}: {v}" for k, v in (r.get("abandoned_prompts") or {}).items()) or "none"
    detected = r.get("detected_offline_s")
    return [f"{r['jobs']} jobs (EmptyImage 1024² → ImageBlur r31 → SaveImage, about 2 s of CPU each) on 3 real local "
            f"CPU servers started for the run; server {r['victim']} stopped (SIGSTOP) for {r['hang_seconds']:.0f} s "
            f"when a third were done, with {r['jobs_on_victim_at_stop']} of our jobs on it, then let go on (SIGCONT):", "",
            f"- marked offline {detected:.1f} s after the stop" if detected is not None
            else "- not marked offline while it was stopped",
            f"- its jobs finished elsewhere: {_recovered(rec['each'], r['jobs_on_victim_at_stop'], r['hang_seconds'])}",
            f"- executions of the {r['jobs']} jobs, from every server's /history: {r['executions']}; lost: "
            f"**{r['lost']}**, never executed: **{r['not_executed']}**, executed twice: **{r['duplicated_executions']}**",
            f"- the abandoned prompts on the stopped server: {fates}; jobs retried: {r['retried_jobs']}",
            *_abandoned_lines(r.get("abandoned_details") or []),
            f"- whole batch: {r['batch_seconds']:.1f} s",
            *(["", "A duplicate here is the case the README's failover section names as not covered: the prompt the "
               "server was running when it stopped completes when it resumes (an interrupt acts only at a node "
               "boundary); the job's attempt reports it (`afterwards`, `duplicate: true`), it is not prevented."]
              if r["duplicated_executions"] else [])]


def _abandoned_lines(details: list[dict[str, Any]]) -> list[str]:
    """One line per prompt left on the stopped server: where it was at the stop, how it ended."""
    lines = []
    for d in details:
        ended = d.get("ended")
        how = (f"{ended['how']}" + (f" in {ended['node']}" if ended.get("node") else "")
               + f", {ended['s_after_resume']:.3f} s after the resume") if ended else "never ran"
        where = f"{d['state_at_stop']}" + (f" (node {d['node_at_stop']})" if d.get("node_at_stop") else "")
        last = ", its last node: cannot be stopped" if d.get("in_last_node_at_stop") else ""
        lines.append(f"  - {d['job']}: {where} at the stop{last}; {how}")
    return lines


def _recovered(each: list[float], on_victim: int, hang_s: float) -> str:
    """When the stopped server's jobs finished elsewhere (only seconds within the stop are recorded)."""
    done = ", ".join(f"{s:.1f} s" for s in each)
    if len(each) == on_victim:
        return f"after {done}" if done else "none was on it"
    late = f"{on_victim - len(each)} of {on_victim} not within the {hang_s:.0f} s stop (they finished later)"
    return f"after {done}; {late}" if done else late


def hang_verdict(r: R) -> Verdict:
    ok = r["lost"] == 0 and r["not_executed"] == 0 and r["duplicated_executions"] == 0
    return Verdict(ok, f"{r['executions']} executions for {r['jobs']} jobs: {r['lost']} lost, "
                       f"{r['not_executed']} never executed, {r['duplicated_executions']} executed twice")


# ---------------------------------------------------------------- scale

def scale_body(r: R) -> list[str]:
    lines = [f"{r['jobs']} sampler jobs ({r['steps_per_job']} progress steps each, ~43 WebSocket messages per job) on "
             f"{r['servers']} fake servers running in another process; the baseline is the bare client "
             f"(`benchmarks/direct_client.py`) running the same jobs, one worker per server:", "",
             *table_head("run", "client", "CPU s", "CPU ms/job", "wall s")]
    for i, x in enumerate(_runs(r), 1):
        d, p = x["direct"], x["pool"]
        lines += [f"| {i} | direct aiohttp+WS (baseline) | {d['cpu_s']:.2f} | {d['cpu_ms_per_job']:.2f} | {d['wall_s']:.1f} |",
                  f"| {i} | ryven-comfy pool (scheduling, events, metrics) | {p['cpu_s']:.2f} | "
                  f"{p['cpu_ms_per_job']:.2f} | {p['wall_s']:.1f} |"]
    lines.append("")
    for i, x in enumerate(_runs(r), 1):
        p = x["pool"]
        lines.append(f"- run {i}: CPU ratio **{_x(x['cpu_ratio'])}**; peak RSS of the whole process "
                     f"{p['process_peak_rss_mb']:.0f} MB (+{p['rss_growth_mb']:.0f} MB during the pool run); Python heap "
                     f"peak {p['python_heap_peak_mb_200_jobs']:.1f} MB for 200 jobs (tracemalloc); events delivered "
                     f"{p['events']}; failed {p['failed']}")
    if len(_runs(r)) > 1:
        lines.append("- the peak RSS is the process's peak so far: a later run's figure includes the earlier runs, "
                     "their tracemalloc run among them (tracing costs memory); the first run's is a fresh process's")
    return lines


def scale_verdict(r: R) -> Verdict:
    ratios = ", ".join(_x(x["cpu_ratio"]) for x in _runs(r))
    failed = sum(x["pool"]["failed"] for x in _runs(r))
    return Verdict(None if not failed else False,
                   f"figures to watch (CPU {ratios} the bare client's, which does no scheduling, events or metrics)"
                   + (f"; but {failed} jobs failed" if failed else "; no job failed"))


# ---------------------------------------------------------------- convert

def convert_body(r: R) -> list[str]:
    parsed = r.get("convert_parsed_ms_median")
    return [f"UI→API conversion of a {r['nodes']}-node workflow ({r['links']} links, {r['prompt_nodes']} nodes in the "
            f"prompt; our feature fixture tiled), {r['runs']} runs:", "",
            f"- node definitions reused (as the runtime does per server): median **{r['convert_ms_median']:.1f} ms**, "
            f"p95 {r['convert_ms_p95']:.1f} ms",
            f"- node definitions parsed afresh each call: median {r['convert_fresh_object_info_ms_median']:.1f} ms",
            *([f"- workflow parsed once, as loaded files are: median {parsed:.1f} ms"] if parsed is not None else []),
            f"- loading the file with JSON Schema validation: {r['validate_load_ms']:.0f} ms (once per file)"]


def convert_verdict(r: R) -> Verdict:
    goal = r.get("goal_ms", 10)
    med, p95 = r["convert_ms_median"], r["convert_ms_p95"]
    return Verdict(p95 < goal and med <= goal / 2, f"median {med:.1f} ms, p95 {p95:.1f} ms against {goal} ms "
                   "(“well under”: median at most half of it, p95 below it)")


# ---------------------------------------------------------------- metrics

def metrics_body(r: R) -> list[str]:
    lines = [f"An idle pool watching {r['servers']} fake servers (in their own process) at the "
             f"{r['health_interval']:g} s health interval (`/system_stats` + `/queue` per check, "
             f"{r['checks_per_server_per_minute']:g} checks per server per minute, WebSockets open) for "
             f"{r['seconds']:g} s, against an idle baseline of the same length:", "",
             *table_head("run", "CPU s used", "idle baseline CPU s", "CPU ms per server per minute",
                         "% of one core, all servers")]
    for i, x in enumerate(_runs(r), 1):
        lines.append(f"| {i} | {x['cpu_seconds_total']:.2f} | {x['cpu_seconds_idle_baseline']:.2f} | "
                     f"**{x['cpu_ms_per_server_per_minute']:.0f}** | {x['cpu_percent_of_one_core_for_all_servers']:.2f} |")
    lines += ["", "The fakes do not answer the agent route; a server with the agent adds one small GET per check. "
              "The GUI side (charts with 10 servers streaming) is the GUI benchmark's figure: the charts do no "
              "work per event (a 2 s timer, incremental samples, at most 300 points per curve)."]
    return lines


def metrics_verdict(r: R) -> Verdict:
    per = ", ".join(f"{x['cpu_ms_per_server_per_minute']:.0f}" for x in _runs(r))
    return Verdict(None, f"the cost is measured, no limit was set: {per} ms of CPU per server per minute")


# ---------------------------------------------------------------- gui

GUI_METHOD = ("The editor offscreen, 100 workflow nodes (a sampler workflow with an image output and its thumbnail) "
              "laid out in a grid and fitted into one view, all busy at once on 10 fake servers in their own process, "
              "with the charts, servers, jobs and log docks visible; a 10 ms timer on the GUI thread records how late "
              "it fires (a stall = the gap between ticks minus 10 ms). Launch to window: a fresh process each time, "
              "servers already running. `BENCH_GUI_STALLS=1` samples the GUI thread's stack in every stall over 50 ms.")

GUI_CHANGES = [
    "Ryven's canvas: pins, port labels, port containers and titles use Qt's own `boundingRect` instead of "
    "Python overrides computing the same (`gui_paint.native_bounds`); Qt asked for them thousands of times per repaint.",
    "Pins, labels and parameter editors are cached as pixmaps (`DeviceCoordinateCache`, redrawn on a connection), "
    "port containers flagged `ItemHasNoContents`, the flow view in `MinimalViewportUpdate` (Ryven's default repaints "
    "the bounding rect of all changes: the whole view).",
    "A node reshape no longer rebuilds Ryven's whole node layout; the main widget's proxy is resized in place.",
    "Charts: one curve per turn of the event loop, curves created once, pens set only on a highlight change; a hidden "
    "charts/servers/jobs tab is not redrawn until shown. Thumbnails and the viewer decode on a worker thread.",
]


def gui_body(r: R) -> list[str]:
    goals = r.get("goals", {})
    launch = r.get("launch_to_window_s") or {}
    lines = [GUI_METHOD, "",
             *table_head("jobs done", "run s", "ticks", "max stall", "p99 stall", "p50 stall", "stalls > 50 ms",
                         "launch to window"),
             f"| {r.get('done', '?')} of {r.get('jobs', '?')} | {r.get('seconds', '?')} | {r.get('ticks', '?')} | "
             f"**{r['max_stall_ms']} ms** (goal {goals.get('max_stall_ms', 50)}) | {r.get('p99_stall_ms', '?')} ms | "
             f"{r.get('p50_stall_ms', '?')} ms | "
             f"{r.get('stalls_over_50ms', '?')} | **{launch.get('median', '?')} s** (goal {goals.get('launch_to_window_s', 3)}; "
             f"all {launch.get('all', '?')}) |"]
    if r.get("notes"):
        lines += ["", f"Notes of this run: {r['notes']}."]
    lines += ["", "Changes made for this figure (see `git log -- benchmarks/results/gui.json` for each step's figures):",
              *[f"- {c}" for c in GUI_CHANGES]]
    return lines


def gui_verdict(r: R) -> Verdict:
    goals = r.get("goals", {})
    stall_goal, launch_goal = goals.get("max_stall_ms", 50), goals.get("launch_to_window_s", 3)
    launch = (r.get("launch_to_window_s") or {}).get("median")
    parts, ok = [], True
    if r["max_stall_ms"] > stall_goal:
        ok = False
        parts.append(f"max stall {r['max_stall_ms']} ms > {stall_goal} ms (not met)")
    else:
        parts.append(f"max stall {r['max_stall_ms']} ms ≤ {stall_goal} ms")
    if launch is None or launch > launch_goal:
        ok = False
        parts.append(f"launch to window {launch} s > {launch_goal} s (not met)")
    else:
        parts.append(f"launch to window {launch} s ≤ {launch_goal} s (met)")
    if r.get("done") != r.get("jobs"):
        ok = False
        parts.append(f"only {r.get('done')} of {r.get('jobs')} jobs done")
    return Verdict(ok, "; ".join(parts))


# ---------------------------------------------------------------- bridge

def bridge_body(r: R) -> list[str]:
    lines = ["The embedded ComfyUI editor (QtWebEngine, offscreen, software rendering): a new page until the sample "
             "workflow is shown, then, with the page ready, push + pull of a 300-node workflow (serialize, "
             "graphToPrompt, re-binding):", "",
             *table_head("server", "frontend", "page ready s", "workflow shown s", "push median s", "pull median s",
                         "push + pull median / max s")]
    for s in r["servers"]:
        lines.append(f"| {s['url']} | {s['frontend']} | {s['ready_s']:.2f} | {s['workflow_shown_s']:.2f} | "
                     f"{s['push_median_s']:.3f} | {s['pull_median_s']:.3f} | **{s['push_pull_median_s']:.3f}** / "
                     f"{s['push_pull_max_s']:.3f} ({s['repeat']} times) |")
    if r.get("note"):
        lines += ["", f"Note: {r['note']}."]
    return lines


def bridge_verdict(r: R) -> Verdict:
    bad = [s for s in r["servers"] if s["push_pull_max_s"] >= s["goal_s"]]
    figs = ", ".join(f"frontend {s['frontend']}: max {s['push_pull_max_s']:.2f} s" for s in r["servers"])
    return Verdict(not bad, f"push + pull under {r['servers'][0]['goal_s']:g} s ({figs})" if not bad
                   else f"push + pull at or above the goal ({figs})")


SECTIONS: dict[str, Section] = {
    "overhead": Section("Overhead of the pool", "submit → outputs known, through the pool, at most 1.2× a bare "
                        "aiohttp + WebSocket client at the median (same real server, trivial prompt).",
                        "RYVEN_COMFY_REUSE_SERVERS=1 .venv/bin/python -m benchmarks.bench_overhead --times 2",
                        overhead_body, overhead_verdict),
    "makespan": Section("Makespan of mixed jobs on servers of different speeds", "the default policy's makespan "
                        "at most 1.10× the lower bound, and ahead of round-robin and least-queue.",
                        ".venv/bin/python -m benchmarks.bench_makespan --times 2", makespan_body, makespan_verdict),
    "failover": Section("Failover: a real server killed mid-batch", "no job lost, none reported or executed twice; "
                        "the time until a killed server's jobs finish elsewhere is recorded.",
                        ".venv/bin/python -m benchmarks.bench_failover", failover_body, failover_verdict),
    "failover_hang": Section("Failover: a real server hanging mid-batch", "every job executed exactly once (0 lost, "
                             "0 duplicated) although the hung server comes back with the abandoned prompts.",
                             ".venv/bin/python -m benchmarks.bench_failover --hang", hang_body, hang_verdict),
    "scale": Section("Scale: 1000 streaming jobs on 10 servers", "the orchestrator's CPU per job and peak memory, "
                     "against a bare client running the same jobs (no threshold set).",
                     ".venv/bin/python -m benchmarks.bench_scale --times 2", scale_body, scale_verdict),
    "convert": Section("Workflow conversion", "UI→API conversion of a 300-node workflow well under 10 ms.",
                       ".venv/bin/python -m benchmarks.bench_convert", convert_body, convert_verdict),
    "metrics": Section("Cost of collecting metrics", "know the CPU an idle pool spends per watched server "
                       "(issue 11; no threshold set).",
                       ".venv/bin/python -m benchmarks.bench_metrics --times 2", metrics_body, metrics_verdict),
    "gui": Section("GUI responsiveness", "no stall of the GUI thread over 50 ms with 100 busy nodes on 10 servers; "
                   "launch to window at most 3 s (issue 10).",
                   "QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_gui", gui_body, gui_verdict),
    "bridge": Section("Embedded ComfyUI editor: push and pull", "push + pull of a 300-node workflow under 1 s.",
                      "QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_bridge", bridge_body, bridge_verdict),
}
