"""The example projects' nodes never overlap on the canvas: as loaded, and once they have grown to
show a run's results (thumbnails, a "retried" line, a long error with Copy error). Each project is
opened in a real Ryven window offscreen (``layout_app``, its own process), with no server and
nothing run: the results are given to the nodes through their own state methods."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECTS = sorted((REPO / "example_projects").glob("*.orchestrator.json"))
#: the least room between two nodes (scene px): wires and a slightly longer text still fit
MIN_GAP = 30.0


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("layout")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RYVEN_COMFY_EDITOR_SETTINGS="none",
               RYVEN_COMFY_AUTOSAVE_DIR=str(tmp / "autosave"))
    proc = subprocess.run([sys.executable, "-m", "tests.ryven.layout_app", *map(str, PROJECTS)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def gap(a: list[Any], b: list[Any]) -> float:
    """The distance between two rectangles [title, x, y, w, h] along the axis that separates them
    (negative: they overlap)."""
    _, ax, ay, aw, ah = a
    _, bx, by, bw, bh = b
    return max(bx - (ax + aw), ax - (bx + bw), by - (ay + ah), ay - (by + bh))


def test_there_are_example_projects() -> None:
    assert len(PROJECTS) >= 2


@pytest.mark.parametrize("state", ["loaded", "done", "failed"])
@pytest.mark.parametrize("project", [p.name for p in PROJECTS])
def test_nodes_of_the_example_projects_never_overlap(layouts: dict[str, Any], project: str, state: str) -> None:
    rects = layouts["projects"][project][state]
    assert len(rects) >= 5
    close = [(a[0], b[0], round(gap(a, b))) for a, b in itertools.combinations(rects, 2) if gap(a, b) < MIN_GAP]
    assert not close, f"{project} ({state}): nodes closer than {MIN_GAP} px: {close}"


@pytest.mark.parametrize("project", [p.name for p in PROJECTS])
def test_grown_nodes_stay_on_the_scene(layouts: dict[str, Any], project: str) -> None:
    """Ryven's scene starts at (0, 0): a node growing past its top or left edge cannot be scrolled to."""
    sx, sy, sw, sh = layouts["scene"]
    for state, rects in layouts["projects"][project].items():
        for title, x, y, w, h in rects:
            assert x >= sx and y >= sy and x + w <= sx + sw and y + h <= sy + sh, (project, state, title, (x, y))
