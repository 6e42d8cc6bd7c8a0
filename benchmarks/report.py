"""Turn ``results/*.json`` into ``RESULTS.md`` (run after any benchmark: ``python -m benchmarks.report``)."""
from __future__ import annotations

import json
from pathlib import Path

from .common import RESULTS_DIR

OUT = Path(__file__).resolve().parent / "RESULTS.md"


def _load(name: str) -> dict | None:
    p = RESULTS_DIR / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def render() -> str:
    lines = ["# Benchmark results", "",
             "Written by `python -m benchmarks.report` from `benchmarks/results/*.json`. "
             "Every figure is a ratio against a baseline measured in the same run, on the machine named with it.", ""]
    if r := _load("overhead"):
        lines += ["## 1. Overhead (goal ≤ 1.2× at the median)", "",
                  f"Trivial prompt (EmptyImage 64² → PreviewImage) on one real ComfyUI 0.3.75 CPU server, {r['runs']} interleaved runs each, {r['when']}:",
                  "", "| client | median ms | p90 ms |", "|---|---|---|",
                  f"| direct aiohttp+WS (baseline) | {r['direct_ms']['median']:.1f} | {r['direct_ms']['p90']:.1f} |",
                  f"| ryven-comfy pool | {r['pool_ms']['median']:.1f} | {r['pool_ms']['p90']:.1f} |", "",
                  f"**Ratio at the median: {r['ratio_median']:.2f}×.** Rerun: `.venv/bin/python -m benchmarks.bench_overhead`.", ""]
    if r := _load("makespan"):
        lines += ["## 2. Makespan (goal ≤ 1.10× of the lower bound, clearly ahead of the baselines)", "",
                  f"{r['jobs']} jobs of 0.25/0.5/1/2 s of work on 10 fake servers with speeds {r['speeds']}; "
                  f"lower bound {r['lower_bound_s']:.2f} s (total work ÷ total speed); median of {r.get('repeat', 1)} interleaved runs, {r['when']}:",
                  "", "| policy | makespan ÷ lower bound | all runs |", "|---|---|---|"]
        for name, p in r["policies"].items():
            ratios = ", ".join(f"{x:.3f}" for x in p.get("ratios", []))
            lines.append(f"| {name} | **{p['median_ratio']:.3f}** | {ratios} |")
        lines += ["", "Rerun: `.venv/bin/python -m benchmarks.bench_makespan`.", ""]
    if r := _load("failover"):
        rec = r["recovery_s"]
        lines += ["## 3. Failover (real servers, SIGKILL mid-batch)", "",
                  f"{r['jobs']} jobs (EmptyImage 512² → ImageBlur → SaveImage) on 3 real CPU servers; server {r['victim']} killed "
                  f"after a third were done, with {r['jobs_on_victim_at_kill']} of our jobs on it, {r['when']}:", "",
                  f"- kill → job finished elsewhere: median {rec['median']:.2f} s, max {rec['max']:.2f} s "
                  "(detection plus re-running the job)",
                  f"- lost: **{r['lost']}**, reported twice: **{r['duplicated_reports']}**, "
                  f"executed successfully on two servers: **{r['duplicated_executions']}**; retried: {r['retried_jobs']}",
                  f"- whole batch: {r['batch_seconds']:.1f} s", "",
                  "Rerun: `.venv/bin/python -m benchmarks.bench_failover`.", ""]
    if r := _load("scale"):
        d, p = r["direct"], r["pool"]
        lines += ["## 4. Scale (10 servers streaming progress, 1000 jobs)", "",
                  f"{r['jobs']} sampler jobs ({r['steps_per_job']} progress steps each, ~43 WebSocket messages per job) on "
                  f"{r['servers']} fake servers running in another process, {r['when']}:", "",
                  "| client | CPU s | CPU ms/job | wall s |", "|---|---|---|---|",
                  f"| direct aiohttp+WS, 10 workers (baseline) | {d['cpu_s']:.2f} | {d['cpu_ms_per_job']:.2f} | {d['wall_s']:.1f} |",
                  f"| ryven-comfy pool (scheduling, events, metrics) | {p['cpu_s']:.2f} | {p['cpu_ms_per_job']:.2f} | {p['wall_s']:.1f} |", "",
                  f"CPU ratio {r['cpu_ratio']:.2f}×; peak RSS of the whole process {p['process_peak_rss_mb']:.0f} MB "
                  f"(+{p['rss_growth_mb']:.0f} MB during the pool run); Python heap peak {p['python_heap_peak_mb_200_jobs']:.1f} MB for 200 jobs (tracemalloc). "
                  f"Events delivered: {p['events']}; failed: {p['failed']}.", "",
                  "Rerun: `.venv/bin/python -m benchmarks.bench_scale`.", ""]
    if r := _load("convert"):
        lines += ["## 5. Workflow conversion (goal: well under 10 ms for 300 nodes)", "",
                  f"UI→API conversion of a {r['nodes']}-node workflow ({r['links']} links, {r['prompt_nodes']} nodes in the prompt), "
                  f"{r['runs']} runs, {r['when']}: median **{r['convert_ms_median']:.1f} ms**, p95 {r['convert_ms_p95']:.1f} ms "
                  f"(with node definitions parsed afresh: {r['convert_fresh_object_info_ms_median']:.1f} ms). "
                  f"Loading with JSON Schema validation adds {r['validate_load_ms']:.0f} ms per file.", "",
                  "Rerun: `.venv/bin/python -m benchmarks.bench_convert`.", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    OUT.write_text(render())
    print("written", OUT)


if __name__ == "__main__":
    main()
