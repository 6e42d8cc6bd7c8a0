"""First run: nothing configured and no local servers running. The window opens before the servers
are ready, runs are refused meanwhile with the step in the message, the servers are added when ready,
and a failed install shows its error and log (fake starter, fake servers: no real install)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_backend import LocalStart, StartProgress, configured_servers_file
from comfy_backend.errors import ProvisionError
from comfy_backend.local.provision import STEPS, InstallStep

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache root with no install and a state folder with no local servers."""
    monkeypatch.setenv("RYVEN_COMFY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RYVEN_COMFY_LOCAL_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("RYVEN_COMFY_SERVERS", raising=False)
    return tmp_path


def test_nothing_configured_means_start_in_the_background(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from comfy_backend import local_default

    monkeypatch.setattr(local_default, "find_servers_file", lambda: None)
    lines: list[str] = []
    assert configured_servers_file(None, 3, lines.append) is None  # nothing started, nothing said
    assert lines == []
    assert configured_servers_file("my.yaml", 3, lines.append) == Path("my.yaml")


def test_local_start_reports_steps_then_ready(fresh_cache: Path) -> None:
    states: list[StartProgress] = []
    ready: list[Path] = []

    def starter(count: int, progress, on_step) -> Path:  # type: ignore[no-untyped-def]
        for i, (title, weight) in enumerate(STEPS, 1):
            on_step(InstallStep(i, len(STEPS), title, weight))
            progress(f"[{i}/{len(STEPS)}] {title}")
        on_step(InstallStep(len(STEPS) + 1, len(STEPS) + 1, "servers", 0.0))
        progress(f"starting {count} ComfyUI instance(s)")
        return fresh_cache / "servers.yaml"

    start = LocalStart(2, states.append, ready.append, lambda exc: pytest.fail(str(exc)), starter=starter).start()
    start.join(30)
    assert ready == [fresh_cache / "servers.yaml"]
    steps = [s.step for s in states]
    assert steps == sorted(steps) and steps[-1] == len(STEPS) + 1 == states[-1].total
    percents = [s.percent for s in states]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert "installing ComfyUI dependencies" in {s.title for s in states}
    assert states[-1].finished and states[-1].summary() == "ready"
    assert any(s.summary().startswith("step 4/8: installing ComfyUI dependencies (") for s in states)


def test_local_start_failure_names_the_log(fresh_cache: Path) -> None:
    states: list[StartProgress] = []
    failed: list[BaseException] = []

    def starter(count: int, progress, on_step) -> Path:  # type: ignore[no-untyped-def]
        on_step(InstallStep(1, len(STEPS), STEPS[0][0], STEPS[0][1]))
        raise ProvisionError("could not create the venv for the local ComfyUI (exit code 1)")

    start = LocalStart(3, states.append, lambda p: pytest.fail("ready"), failed.append, starter=starter).start()
    start.join(30)
    assert len(failed) == 1
    assert states[-1].error is not None and str(fresh_cache / "cache") in states[-1].error  # the install log
    assert states[-1].summary().startswith("failed: could not create the venv")


def test_nothing_installed_counts_the_install_steps(fresh_cache: Path) -> None:
    release = threading.Event()
    start = LocalStart(3, lambda s: None, lambda p: None, lambda e: None,
                       starter=lambda c, p, s: (release.wait(10), Path("x"))[1])
    assert start.state.total == len(STEPS) + 1 and start.state.step == 0
    release.set()


# -- the editor, in its own process (one Ryven main window per process) ------------------------------
@pytest.fixture
def fake_servers_yaml(tmp_path: Path) -> Iterator[Path]:
    fleet = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_fleet", "--speeds", "1,1"], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        urls = json.loads(fleet.stdout.readline())["urls"]  # type: ignore[union-attr]
        path = tmp_path / "servers.yaml"
        path.write_text("servers:\n" + "".join(f"  - id: local{i + 1}\n    url: {u}\n    tags: [local, cpu]\n"
                                               for i, u in enumerate(urls)))
        yield path
    finally:
        fleet.stdin.close()  # type: ignore[union-attr]
        fleet.wait(30)


def run_app(tmp_path: Path, servers: Path, *extra: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QTWEBENGINE_DISABLE_SANDBOX="1",
               RYVEN_COMFY_CACHE=str(tmp_path / "cache"), RYVEN_COMFY_LOCAL_STATE=str(tmp_path / "state"),
               RYVEN_COMFY_EDITOR_SETTINGS="none", RYVEN_COMFY_AUTOSAVE_DIR=str(tmp_path / "autosave"))
    proc = subprocess.run([sys.executable, "-m", "tests.ryven.first_run_app", "--servers", str(servers), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_window_first_run_refused_then_servers_added(tmp_path: Path, fake_servers_yaml: Path) -> None:
    seen = run_app(tmp_path, fake_servers_yaml)
    assert seen["shown_before_ready"]
    assert seen["panel_step"].startswith(f"step 4/{len(STEPS) + 1}: installing ComfyUI dependencies")
    assert 0 < seen["panel_percent"] < 100
    assert "Resolved 40 packages" in seen["panel_tail"]  # the install log's tail
    assert seen["refused"].startswith("local ComfyUI servers are still starting: step 4/8")
    assert seen["ok"] and seen["servers"] == ["local1", "local2"] and seen["table_rows"] == 2


def test_failed_install_shows_the_error_and_log(tmp_path: Path, fake_servers_yaml: Path) -> None:
    seen = run_app(tmp_path, fake_servers_yaml, "--fail")
    assert seen["shown_before_ready"] and not seen["ok"]
    assert "did not start" in seen["error_text"] and "No matching distribution found for kornia" in seen["error_text"]
    assert str(tmp_path / "cache") in seen["error_text"]  # the install log
    assert seen["servers"] == []
