"""``ryven-comfy run PROJECT`` against the real servers: exit codes, --json, --set, outputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CPU_PROJECT

pytestmark = pytest.mark.real


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "comfy_backend.cli.main", "run", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_run_example_project_json(servers_yaml, tmp_path):
    r = run(str(CPU_PROJECT), "--servers", str(servers_yaml), "--out", str(tmp_path), "--json",
            "--set", "blurred colour.Blur radius=4")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is True
    rows = {row["title"]: row for row in report["nodes"]}
    assert set(rows) == {"blurred colour", "invert image", "Save outputs"}
    for title in ("blurred colour", "invert image"):
        assert rows[title]["status"] == "done" and rows[title]["server"].startswith("local")
        assert rows[title]["outputs"] and all(Path(p).is_file() for p in rows[title]["outputs"])
        assert all(Path(p).resolve().is_relative_to(tmp_path.resolve()) for p in rows[title]["outputs"])
    assert rows["Save outputs"]["status"] == "saved"
    assert all(Path(p).is_file() for p in rows["Save outputs"]["outputs"])
    assert "invert image" in r.stderr  # terminal progress goes to stderr


def test_failed_node_exits_1_and_blocks_downstream(servers_yaml, tmp_path):
    # an unexposed input the servers reject (exposed values are checked before submitting: exit 2)
    project = json.loads(CPU_PROJECT.read_text())
    blurred = next(n for n in project["flows"][0]["nodes"] if (n.get("spec") or {}).get("title") == "blurred colour")
    blurred["spec"]["prompt"]["2"]["inputs"]["sigma"] = 99.0
    bad = tmp_path / "bad_sigma.orchestrator.json"
    bad.write_text(json.dumps(project))
    r = run(str(bad), "--servers", str(servers_yaml), "--out", str(tmp_path), "--json")
    assert r.returncode == 1, r.stderr
    rows = {row["title"]: row for row in json.loads(r.stdout)["nodes"]}
    assert rows["blurred colour"]["status"] == "failed" and rows["blurred colour"]["error"]
    assert rows["invert image"]["status"] == "blocked"
    assert "blurred colour" in rows["invert image"]["error"]


def test_out_of_range_value_exits_2_before_any_job(servers_yaml, tmp_path):
    r = run(str(CPU_PROJECT), "--servers", str(servers_yaml), "--out", str(tmp_path), "--json",
            "--set", "blurred colour.Blur radius=40")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert lines == ["error: blurred colour: parameter 'Blur radius': 40 is above the maximum 31"], r.stderr
    assert r.stdout == "" and not any(tmp_path.iterdir())  # nothing ran, nothing saved


def test_bad_input_exits_2(servers_yaml, tmp_path):
    r = run(str(CPU_PROJECT), "--servers", str(servers_yaml), "--set", "nobody.x=1")
    assert r.returncode == 2 and "no node" in r.stderr
    r = run(str(tmp_path / "missing.orchestrator.json"), "--servers", str(servers_yaml))
    assert r.returncode == 2 and "not found" in r.stderr
    bad = tmp_path / "bad.orchestrator.json"
    bad.write_text('{"format": "ryven-comfy.orchestrator", "version": 99, "flows": []}')
    r = run(str(bad), "--servers", str(servers_yaml))
    assert r.returncode == 2 and "version" in r.stderr


def test_example_ryvencore_script_runs_the_project(servers_yaml, tmp_path):
    from .conftest import EXAMPLES

    r = subprocess.run([sys.executable, str(EXAMPLES / "run_headless.py"), str(CPU_PROJECT), "--servers",
                        str(servers_yaml), "--out", str(tmp_path), "--colour", "0x102030"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {row["title"]: row for row in json.loads(r.stdout)}
    assert rows["invert image"]["status"] == "done" and rows["invert image"]["outputs"]
    from PIL import Image
    img = Image.open(rows["blurred colour"]["outputs"][0]).convert("RGB")
    assert all(abs(a - b) <= 1 for a, b in zip(img.getpixel((128, 128)), (0x10, 0x20, 0x30)))


def test_sd_example_project_is_valid_and_names_missing_models(servers_yaml, tmp_path):
    """The SD1.5 txt2img → upscale example loads; without models the servers reject it with a clear message."""
    from .conftest import EXAMPLES

    r = run(str(EXAMPLES / "sd15_txt2img_upscale.orchestrator.json"), "--servers", str(servers_yaml),
            "--out", str(tmp_path), "--json")
    # the upscale model is in no server's list: refused before submitting, naming node, parameter and model
    assert r.returncode == 2, r.stderr
    assert "upscale 4x: parameter 'Upscale model': 'RealESRGAN_x4plus.pth' is not one of" in r.stderr, r.stderr
    assert r.stdout == ""


def test_editor_command_starts_and_keeps_running(servers_yaml):
    import os
    import time

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTWEBENGINE_DISABLE_SANDBOX": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "comfy_backend.cli.main", "editor", str(CPU_PROJECT),
                             "--servers", str(servers_yaml)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(8)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
    finally:
        proc.terminate()
        proc.wait(20)
    r = subprocess.run([sys.executable, "-m", "comfy_backend.cli.main", "editor", "missing.orchestrator.json",
                        "--servers", str(servers_yaml)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not found" in r.stderr
