"""``benchmarks/report.py`` renders RESULTS.md from the committed results, with a section for each JSON.

No benchmark is run and nothing is timed: the report is rendered from the JSONs in the tree.
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks import report
from benchmarks.common import RESULTS_DIR
from benchmarks.report_sections import SECTIONS


def test_report_renders_every_committed_result(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    report.main(["--out", str(out)])
    text = out.read_text()
    names = sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
    assert names, "no results in benchmarks/results"
    for name in names:
        assert f"(`results/{name}.json`)" in text, f"no section for results/{name}.json"
        assert name in SECTIONS, f"results/{name}.json has no section in benchmarks/report_sections.py"
    assert text.count("\n## ") == len(names)
    assert text.count("Rerun: `") == len(names)


def test_every_section_states_a_verdict(tmp_path: Path) -> None:
    results = report.load_results()
    text = report.render(results)
    verdicts = text.count("**Goal met:** yes") + text.count("**Goal not met**") + text.count("no pass/fail threshold")
    assert verdicts == len(results)


def test_an_unknown_result_still_gets_a_section(tmp_path: Path) -> None:
    (tmp_path / "newbench.json").write_text(json.dumps(
        {"benchmark": "newbench", "when": "2026-01-01 00:00:00 UTC", "command": "python -m benchmarks.bench_new",
         "speed": 1.5, "nested": {"ignored": 1}}))
    out = tmp_path / "R.md"
    report.main(["--results", str(tmp_path), "--out", str(out)])
    text = out.read_text()
    assert "## 1. newbench (`results/newbench.json`)" in text
    assert "- speed: 1.5" in text and "python -m benchmarks.bench_new" in text


def test_not_met_is_said_plainly() -> None:
    gui = {"benchmark": "gui", "jobs": 100, "done": 100, "seconds": 2.0, "ticks": 20, "max_stall_ms": 80,
           "p99_stall_ms": 80, "p50_stall_ms": 20, "stalls_over_50ms": 1,
           "launch_to_window_s": {"median": 1.5, "all": [1.5]}, "goals": {"max_stall_ms": 50, "launch_to_window_s": 3}}
    text = report.render({"gui": gui})
    assert "**Goal not met**" in text and "| **not met** |" in text
