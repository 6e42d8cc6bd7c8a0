"""Screenshot mode exits with the flow's status (issue 10): 1 when a node fails, with the picture still
saved (the run that exits 0 is test_gui_ux's). Against the real servers of the test session; the
screenshot goes to a temporary folder, never over the tracked docs picture."""
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
