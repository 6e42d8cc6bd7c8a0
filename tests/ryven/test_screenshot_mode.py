"""Screenshot mode exits with the flow's status (issue 10): 1 when a node fails, with the picture still
saved (the run that exits 0 is test_gui_ux's). Against the real servers of the test session; the
screenshot goes to a temporary folder, never over the tracked docs picture. And, without servers: the
servers and jobs docks are redrawn right before the grab."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "example_projects" / "cpu_chain.orchestrator.json"
MISSING = "ImageBlurThatNoServerHas"


def failing_project(tmp_path: Path) -> Path:
    """The example project with a node type no server has in *blurred colour* (its downstream nodes
    are then blocked)."""
    data = json.loads(PROJECT.read_text())
    blur = next(n for n in data["flows"][0]["nodes"] if n["kind"] == "workflow" and n["spec"]["title"] == "blurred colour")
    step = next(k for k, v in blur["spec"]["prompt"].items() if v["class_type"] == "ImageBlur")
    blur["spec"]["prompt"][step]["class_type"] = MISSING
    out = tmp_path / "fails.orchestrator.json"
    out.write_text(json.dumps(data, indent=1))
    return out


@pytest.mark.real
def test_screenshot_mode_exits_1_when_a_node_fails_and_still_saves_the_picture(servers_yaml, tmp_path):
    project = failing_project(tmp_path)
    out = tmp_path / "shots" / "failed.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RYVEN_COMFY_EDITOR_SETTINGS=str(tmp_path / "ed.ini"),
               RYVEN_COMFY_AUTOSAVE_DIR=str(tmp_path / "autosave"))
    proc = subprocess.run([sys.executable, "-m", "comfy_backend.cli.main", "editor", str(project), "--servers",
                           str(servers_yaml), "--run", "--screenshot", str(out), "--size", "1280x800"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert MISSING in proc.stderr  # the node's failure is logged, naming what is missing
    assert Image.open(out).size == (1280, 800)  # the picture of the failed run, in the folder asked for


def test_the_servers_and_jobs_docks_are_redrawn_right_before_the_grab(qapp, qtbot, monkeypatch, tmp_path):
    """Their timers lag the flow's end: the picture showed a job still in flight. The grab redraws
    both from the core's state first, hidden ones (behind another tab) too."""
    from types import SimpleNamespace

    from qtpy.QtWidgets import QMainWindow, QTabWidget

    from comfy_backend import Health, JobState
    from ryven_comfy_nodes import gui_jobs, gui_layout, gui_servers
    from ryven_comfy_nodes.gui_jobs import JobsPanel
    from ryven_comfy_nodes.gui_screenshot import ScreenshotRun
    from ryven_comfy_nodes.gui_servers import C_JOB, ServersTable
    from tests.ryven.test_dock_visuals import snap

    progress = SimpleNamespace(node="blur", node_index=2, node_count=3, fraction=0.5)
    job = SimpleNamespace(server="local1", state=JobState.RUNNING, label="blurred colour", progress=progress)
    jobs: list = [job]
    ctx = SimpleNamespace(orch=SimpleNamespace(jobs=lambda: list(jobs)))
    monkeypatch.setattr(gui_servers, "current_context", lambda create=False: ctx)
    monkeypatch.setattr(gui_layout, "fit_flow", lambda editor: None)
    win = QMainWindow()
    tabs = QTabWidget()
    table, jobs_panel = ServersTable(), JobsPanel()
    tabs.addTab(table, "servers")
    tabs.addTab(jobs_panel, "jobs")
    win.setCentralWidget(tabs)
    win.resize(1280, 400)
    win.show()
    qtbot.addWidget(win)
    table.timer.stop()  # the lagging timer never comes: only the grab's redraw counts
    table.on_server(snap("local1", Health.ONLINE, in_flight=0))
    table.refresh()
    assert table.item(0, C_JOB).text().startswith("blurred colour")
    forced: list[bool] = []
    monkeypatch.setattr(gui_jobs.JobsPanel, "refresh", lambda self, force=False: forced.append(force))
    tabs.setCurrentIndex(1)  # the servers table hidden behind the jobs tab
    jobs.clear()  # the flow ended
    codes: list[int] = []
    out = tmp_path / "shot.png"
    ScreenshotRun(win, out, run=False, done=codes.append)._finish(0)
    assert codes == [0] and out.is_file()
    assert table.item(0, C_JOB).text() == "idle"  # redrawn though hidden: no job in flight any more
    assert True in forced  # the jobs dock redrawn with force


def test_a_server_row_drops_its_job_on_the_tick_after_the_job_ended(qapp, qtbot, monkeypatch):
    from types import SimpleNamespace

    from comfy_backend import Health, JobState
    from ryven_comfy_nodes import gui_servers
    from ryven_comfy_nodes.gui_servers import C_JOB, ServersTable
    from tests.ryven.test_dock_visuals import snap

    progress = SimpleNamespace(node="blur", node_index=2, node_count=3, fraction=0.5)
    jobs: list = [SimpleNamespace(server="local1", state=JobState.RUNNING, label="blurred colour", progress=progress)]
    ctx = SimpleNamespace(orch=SimpleNamespace(jobs=lambda: list(jobs)))
    monkeypatch.setattr(gui_servers, "current_context", lambda create=False: ctx)
    table = ServersTable()
    table.timer.stop()
    qtbot.addWidget(table)
    table.show()
    table.on_server(snap("local1", Health.ONLINE, in_flight=0))
    table.refresh()
    assert table.item(0, C_JOB).text().startswith("blurred colour")
    jobs.clear()  # ended, and no new server snapshot came (nothing marked the table dirty)
    table.refresh()
    assert table.item(0, C_JOB).text() == "idle"
