"""A project file runs no code and cannot hang or crash a run (issue 8 items 3 and 12).

Ryven projects hold pickled node state: they are refused unless trusted, checked in the
file's structure without unpickling anything. Loops, malformed node lists and absurd nesting
give one clear line (exit 2), never a hang or a traceback. No server is needed: the project
is read before the servers config.
"""
from __future__ import annotations

import base64
import json
import pathlib
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from comfy_backend import WorkflowError

from .conftest import CPU_PROJECT, EXAMPLES

UNTRUSTED = ("a Ryven project contains pickled node state, which can run code when opened; open it only if "
             "you trust it: --trust-pickles, or convert it to .orchestrator.json")


class _Evil:
    """Unpickling this creates the marker file: what a hostile project would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def evil_project(path: Path, marker: Path) -> Path:
    payload = base64.b64encode(pickle.dumps(_Evil(marker))).decode()
    node = {"identifier": "ryven_comfy_nodes.util.text", "version": "1", "state data": payload,
            "additional data": {}, "inputs": [], "outputs": [], "GID": 1}
    path.write_text(json.dumps({"general info": {"type": "Ryven project file"},
                                "flows": {"main": {"algorithm mode": "data", "nodes": [node], "connections": []}}}))
    return path


def benign_project(path: Path) -> Path:
    from ryven_comfy_nodes.project_ryven import new_session
    from ryven_comfy_nodes.utility_nodes import TextNode

    session = new_session()
    flow = session.create_flow("main")
    text = flow.create_node(TextNode)
    text.inputs[0].default = text.inputs[0].default.__class__("hello")
    path.write_text(json.dumps(session.serialize()))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "comfy_backend.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


def error_lines(r: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in r.stderr, r.stderr
    return [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]


@pytest.mark.parametrize("name", ["evil_project.json", "evil.ryven"])
def test_run_refuses_a_pickled_project_before_reading_the_servers_config(tmp_path, name):
    marker = tmp_path / "PWNED"
    project = evil_project(tmp_path / name, marker)
    r = cli("run", str(project), "--servers", str(tmp_path / "no-such-servers.yaml"))
    assert r.returncode == 2, r.stderr
    assert error_lines(r) == [f"error: {project}: {UNTRUSTED}"]
    assert not marker.exists()


def test_the_ryvencore_script_refuses_it_too(tmp_path):
    marker = tmp_path / "PWNED"
    project = evil_project(tmp_path / "evil.json", marker)
    r = subprocess.run([sys.executable, str(EXAMPLES / "run_headless.py"), str(project),
                        "--servers", str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and UNTRUSTED in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists()


def test_detection_reads_the_structure_and_unpickles_nothing(tmp_path):
    from ryven_comfy_nodes.headless import open_project
    from ryven_comfy_nodes.project_ryven import UntrustedProject, pickled_fields, read_project, specs_in_ryven_project

    marker = tmp_path / "PWNED"
    project = evil_project(tmp_path / "evil.json", marker)
    assert pickled_fields(read_project(project)) == ["flows.main.nodes[0].state data"]
    with pytest.raises(UntrustedProject, match="pickled node state"):
        open_project(project)
    with pytest.raises(UntrustedProject):
        specs_in_ryven_project(project)
    assert not marker.exists()


def test_a_trusted_benign_ryven_project_loads(tmp_path):
    from ryven_comfy_nodes.headless import open_project
    from ryven_comfy_nodes.project_ryven import UntrustedProject

    project = benign_project(tmp_path / "mine.json")
    with pytest.raises(UntrustedProject):
        open_project(project)
    _, flows = open_project(project, trust_pickles=True)
    assert [n.title for n in flows[0].nodes] == ["Text"]
    assert flows[0].nodes[0].inputs[0].default.payload == "hello"


def test_orchestrator_projects_open_without_any_trust():
    from ryven_comfy_nodes.headless import open_project

    _, flows = open_project(CPU_PROJECT)
    assert {n.title for n in flows[0].nodes} >= {"blurred colour", "invert image"}


def test_the_editor_asks_naming_the_file_with_no_as_default(tmp_path, qapp):
    from qtpy.QtWidgets import QMessageBox

    from ryven_comfy_nodes.launcher import pickle_warning_box, ryven_project_to_open
    from ryven_comfy_nodes.project_ryven import is_trusted

    project = benign_project(tmp_path / "asked.json")
    box = pickle_warning_box(str(project.resolve()))
    assert str(project.resolve()) in box.text() and "pickled" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.No)
    asked: list[str] = []
    assert ryven_project_to_open(project, trust_pickles=False, confirm=lambda p: asked.append(p) or False) is None
    assert asked == [str(project.resolve())] and not is_trusted(project)
    assert ryven_project_to_open(project, trust_pickles=False, confirm=lambda p: True) == str(project.resolve())
    assert is_trusted(project)
    other = benign_project(tmp_path / "flag.json")
    assert ryven_project_to_open(other, trust_pickles=True, confirm=lambda p: pytest.fail("asked")) is not None


def test_editor_command_checks_the_project_before_starting_servers(tmp_path):
    r = cli("editor", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "not found" in r.stderr
    numbers = tmp_path / "numbers.json"
    numbers.write_text(json.dumps({"flows": {"main": {"nodes": [1, 2], "connections": []}}}))
    r = cli("editor", str(numbers), "--servers", str(tmp_path / "none.yaml"))
    assert r.returncode == 2 and error_lines(r) == [
        f"error: {numbers}: not a usable Ryven project: flow 'main': node 0 is not a node (an object with an 'identifier')"]


# -- loops, malformed and absurd files ---------------------------------------------------------------
def test_a_ryven_project_whose_nodes_are_numbers_is_one_clear_error(tmp_path):
    bad = tmp_path / "numbers.json"
    bad.write_text(json.dumps({"flows": {"main": {"nodes": [1, 2, 3]}}}))
    r = cli("run", str(bad), "--trust-pickles", "--servers", str(tmp_path / "none.yaml"))
    assert r.returncode == 2
    assert error_lines(r) == [f"error: {bad}: not a usable Ryven project: flow 'main': node 0 is not a node "
                              "(an object with an 'identifier')"]


@pytest.mark.parametrize("name", ["deep.json", "deep.orchestrator.json"])
def test_a_project_nested_100000_levels_is_one_clear_error(tmp_path, name):
    deep = tmp_path / name
    deep.write_text('{"flows": ' + "[" * 100_000 + "]" * 100_000 + "}")
    r = cli("run", str(deep), "--servers", str(tmp_path / "none.yaml"))
    assert r.returncode == 2
    assert error_lines(r) == [f"error: {deep}: not a usable project: nested too deeply"]
    shallow_but_absurd = tmp_path / ("mid_" + name)
    shallow_but_absurd.write_text('{"flows": ' + "[" * 500 + "]" * 500 + "}")
    r = cli("run", str(shallow_but_absurd), "--servers", str(tmp_path / "none.yaml"))
    assert r.returncode == 2 and "nested more than 200 levels" in r.stderr and "Traceback" not in r.stderr


def _looping_orchestrator(tmp_path: Path) -> Path:
    project = json.loads(CPU_PROJECT.read_text())
    flow = project["flows"][0]
    ids = {(n.get("spec") or {}).get("title"): n["id"] for n in flow["nodes"]}
    blurred, inverted = ids["blurred colour"], ids["invert image"]
    # invert image's first output feeds blurred colour's first input: with blurred → invert, a loop
    flow["connections"].append({"from_node": inverted, "from_output": 0, "to_node": blurred, "to_input": 0})
    path = tmp_path / "loop.orchestrator.json"
    path.write_text(json.dumps(project))
    return path


def test_run_refuses_a_project_whose_nodes_feed_each_other(tmp_path):
    path = _looping_orchestrator(tmp_path)
    r = cli("run", str(path), "--servers", str(tmp_path / "none.yaml"))
    assert r.returncode == 2
    (line,) = error_lines(r)
    assert "nodes feed each other in a loop" in line and "(blurred colour)" in line and "(invert image)" in line


def test_a_ryven_project_with_a_loop_is_refused_before_unpickling(tmp_path):
    from ryven_comfy_nodes.project_ryven import read_project

    node = {"identifier": "ryven_comfy_nodes.util.text", "state data": "gAR9lC4="}
    conns = [{"parent node index": 0, "output port index": 0, "connected node": 1, "connected input port index": 0},
             {"parent node index": 1, "output port index": 0, "connected node": 0, "connected input port index": 0}]
    path = tmp_path / "loop.json"
    path.write_text(json.dumps({"flows": {"main": {"nodes": [node, dict(node)], "connections": conns}}}))
    with pytest.raises(WorkflowError, match=r"flow 'main': nodes feed each other in a loop \(\d \(text\) → \d \(text\) → "):
        read_project(path)


def test_the_runner_refuses_a_loop_of_live_nodes_and_runs_nothing(specs):
    from ryven_comfy_nodes.classes import workflow_class
    from ryven_comfy_nodes.headless import run_flows
    from ryven_comfy_nodes.project_ryven import new_session
    from ryven_comfy_nodes.runner import FlowRunner
    from ryven_comfy_nodes.threads import QueueDispatcher

    A, B = workflow_class(specs["blurred_colour"]), workflow_class(specs["invert_image"])
    flow = new_session().create_flow("main")
    a, b = flow.create_node(A), flow.create_node(B)
    flow.connect_nodes(a.outputs[0], b.inputs[0])
    flow.connect_nodes(b.outputs[0], a.inputs[0])
    runner = FlowRunner(None, QueueDispatcher().post, None, output_root=Path("."))  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match=r"nodes feed each other in a loop .*blurred colour.*invert image"):
        runner.run_nodes([b])
    assert a.run.status == "idle" and b.run.status == "idle" and runner.runs == []
    with pytest.raises(WorkflowError, match="flow 'main': nodes feed each other in a loop"):
        run_flows(None, [flow])  # type: ignore[arg-type]  (refused before the backend is used)
