"""The editor window as a user sees it, with no server (issue 10, defects found on screenshots):
the flow fitted into view on open, loaded nodes kept on the scene, a long error readable above
the progress bar, no doubled status word, inspectors that never clip sideways and never show
Ryven's ids, context-menu entries that survive a save and load, no ghost of a replaced editor.

Ryven's main window is one per process and the session's ``editor`` fixture needs the real
servers, so the cases (``editor_window_cases.py``) run in a pytest subprocess of their own with a
fresh editor over no server. No timed assertions: waits end on a condition (or fail at their
generous limit).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

CASES = Path(__file__).with_name("editor_window_cases.py")


def test_editor_window(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RYVEN_COMFY_EDITOR_SETTINGS="none",
               RYVEN_COMFY_AUTOSAVE_DIR=str(tmp_path / "autosave"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES.relative_to(REPO))],
                          env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert "6 passed" in last and "skipped" not in last, proc.stdout[-2000:]
