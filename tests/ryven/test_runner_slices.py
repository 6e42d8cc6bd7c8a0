"""The runner starts a big run in slices (issue 10: the window keeps drawing while 100 jobs are
submitted) and checks a node's values once when it has no image to fetch first. No servers: a stub
backend records what it is asked; no timed assertions (the slice budget is set to zero)."""
from __future__ import annotations

import concurrent.futures as cf
import itertools
from pathlib import Path

import pytest

from comfy_backend import JobHandle, ParameterError
from ryven_comfy_nodes import runner as runner_mod
from ryven_comfy_nodes.classes import workflow_class
from ryven_comfy_nodes.project_ryven import new_session
from ryven_comfy_nodes.run_state import RunStatus
from ryven_comfy_nodes.runner import FlowRunner


class Turns:
    """A flow thread's event loop, one turn at a time: a turn runs what was posted before it."""

    def __init__(self) -> None:
        self.queue: list = []

    def post(self, fn) -> None:
        self.queue.append(fn)

    def turn(self) -> None:
        batch, self.queue = self.queue, []
        for fn in batch:
            fn()


class StubBackend:
    """Takes every request (or refuses those labelled ``bad``) and never finishes a job."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.checked = 0
        self._ids = itertools.count(1)

    def check(self, request) -> None:
        self.checked += 1

    def submit(self, request) -> JobHandle:
        if request.label == "bad":
            raise ParameterError("parameter 'Steps': -1 is below the minimum 1")
        self.submitted.append(request.label)
        return JobHandle(self, f"job{next(self._ids)}", cf.Future())

    def cancel(self, job_id: str) -> bool:
        return False


@pytest.fixture
def flow_of(specs):
    def make(n: int, spec_id: str = "blurred_colour"):
        cls = workflow_class(specs[spec_id])
        flow = new_session().create_flow("f")
        nodes = [flow.create_node(cls) for _ in range(n)]
        for i, node in enumerate(nodes):
            node.title = f"n{i}"
        return nodes
    return make


def test_a_big_run_is_started_a_slice_per_turn(flow_of, monkeypatch):
    monkeypatch.setattr(runner_mod, "START_BUDGET_S", 0.0)  # one start per turn: the slices are visible
    backend, disp = StubBackend(), Turns()
    runner = FlowRunner(backend, disp.post, None, output_root=Path("."))
    nodes = flow_of(5)
    run = runner.run_nodes(nodes)
    assert len(backend.submitted) == 1  # the first slice; the rest is posted to the next turns
    assert sorted(n.run.status.value for n in nodes) == ["pending"] * 4 + ["queued"]
    for turn in range(2, 6):
        disp.turn()
        assert len(backend.submitted) == turn
    assert all(n.run.status is RunStatus.QUEUED for n in nodes)
    assert not run.finished  # the jobs are in flight
    assert backend.checked == 0  # no image to fetch first: submit checks the values, once


def test_values_refused_on_submit_fail_the_node_and_the_rest_still_start(flow_of):
    backend, disp = StubBackend(), Turns()
    runner = FlowRunner(backend, disp.post, None, output_root=Path("."))
    nodes = flow_of(3)
    nodes[1].title = "bad"
    runner.run_nodes(nodes)
    for _ in range(5):
        disp.turn()
    assert nodes[1].run.status is RunStatus.FAILED
    assert nodes[1].run.message.endswith("(not submitted)")
    assert [n.run.status for n in (nodes[0], nodes[2])] == [RunStatus.QUEUED, RunStatus.QUEUED]


def test_a_shut_down_runner_starts_nothing_more(flow_of, monkeypatch):
    monkeypatch.setattr(runner_mod, "START_BUDGET_S", 0.0)
    backend, disp = StubBackend(), Turns()
    runner = FlowRunner(backend, disp.post, None, output_root=Path("."))
    runner.run_nodes(flow_of(3))
    runner.shutdown()
    disp.turn()
    assert len(backend.submitted) == 1
