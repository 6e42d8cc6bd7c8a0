"""RunRequest → prompt for one server (workflow.prepare), JobError mapping, Job transitions."""
from __future__ import annotations

import asyncio
import copy

import pytest

from comfy_backend.errors import (
    ConnectionLost,
    ErrorKind,
    ExecutionFailed,
    JobCancelled,
    JobError,
    NodeError,
    NoServerAvailable,
    ParameterError,
    ServerHTTPError,
    ValidationRejected,
    WorkflowError,
)
from comfy_backend.fake_server.catalog import default_object_info
from comfy_backend.jobs import IllegalTransition, Job, JobSpec
from comfy_backend.models import Attempt, AttemptOutcome, JobState, Progress
from comfy_backend.requests import RunRequest
from comfy_backend.workflow.prepare import prepare, prepare_with_seeds

OI = default_object_info()

UI = {
    "last_node_id": 4, "last_link_id": 3, "version": 0.4, "links": [
        [1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 1, 0, 4, 0, "IMAGE"]],
    "nodes": [
        {"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1, 3]}], "widgets_values": [64, 64, 1, 0]},
        {"id": 2, "type": "ImageBlur", "mode": 0, "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}], "widgets_values": [1, 1.0]},
        {"id": 3, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
         "outputs": [], "widgets_values": ["t/ui"]},
        {"id": 4, "type": "PreviewImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 3}],
         "outputs": [], "widgets_values": []},
    ],
}
API = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t/p"}},
    "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    "9": {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}},
}


def test_ui_workflow_is_converted_with_the_servers_definitions_and_values_written() -> None:
    prompt = prepare(RunRequest(UI, values={"2.blur_radius": 7, "1.width": 32}), OI)
    assert prompt["2"]["class_type"] == "ImageBlur" and prompt["2"]["inputs"]["blur_radius"] == 7
    assert prompt["1"]["inputs"]["width"] == 32 and prompt["2"]["inputs"]["image"] == ["1", 0]
    with pytest.raises(WorkflowError, match="node definitions"):
        prepare(RunRequest(UI), None)


def test_values_are_checked_against_the_servers_constraints_with_labels() -> None:
    req = RunRequest(API, values={"2.blur_radius": 40}, labels={"2.blur_radius": "Blur radius"})
    with pytest.raises(ParameterError, match="parameter 'Blur radius': 40 is above the maximum 31"):
        prepare(req, OI)
    narrow = copy.deepcopy(OI)
    narrow["ImageBlur"]["input"]["required"]["blur_radius"][1]["max"] = 50
    assert prepare(req, narrow)["2"]["inputs"]["blur_radius"] == 40   # another server, other bounds
    with pytest.raises(ParameterError, match=r"parameter '2\.sigma': expected a number"):
        prepare(RunRequest(API, values={"2.sigma": "x"}), OI)
    assert prepare(RunRequest(API, values={"2.sigma": 2}), OI)["2"]["inputs"]["sigma"] == 2.0
    assert prepare(RunRequest(API, values={"2.sigma": None}), OI)["2"]["inputs"]["sigma"] == 1.0  # None: unchanged


def test_random_seeds_are_drawn_within_the_fields_bounds() -> None:
    small = copy.deepcopy(OI)
    small["RandomNoise"]["input"]["required"]["noise_seed"][1].update(min=10, max=20)
    req = RunRequest(API, random_seeds=("9.noise_seed",))
    drawn = set()
    for _ in range(40):
        prompt, seeds = prepare_with_seeds(req, small)
        assert 10 <= prompt["9"]["inputs"]["noise_seed"] == seeds["9.noise_seed"] <= 20
        drawn.add(seeds["9.noise_seed"])
    assert len(drawn) > 1
    assert 0 <= prepare(req, OI)["9"]["inputs"]["noise_seed"] < 2**50


def test_outputs_prune_to_the_nodes_they_need() -> None:
    prompt = prepare(RunRequest(API, outputs=("4",)), OI)
    assert set(prompt) == {"1", "4"}
    assert set(prepare(RunRequest(UI, outputs=("3",)), OI)) == {"1", "2", "3"}
    with pytest.raises(WorkflowError, match="no output node 77"):
        prepare(RunRequest(API, outputs=("77",)), OI)


def test_plain_api_request_is_sent_as_it_is() -> None:
    assert RunRequest(API).plain and not RunRequest(UI).plain
    assert prepare(RunRequest(API), None) == API


def test_job_error_is_built_in_one_place() -> None:
    ne = NodeError("2", "ImageBlur", "value_bigger_than_max", "too big", input_name="blur_radius")
    rej = JobError.from_exception(ValidationRejected("rejected", server="a", node_errors=[ne]))
    assert (rej.kind, rej.node_id, rej.input_name, rej.server, rej.retryable) == (
        ErrorKind.REJECTED, "2", "blur_radius", "a", False)
    assert rej.to_dict()["extra"]["node_errors"][0]["input_name"] == "blur_radius"
    ex = JobError.from_exception(ExecutionFailed("boom", server="b", node_id="3", node_type="SaveImage"))
    assert (ex.kind, ex.node_id, ex.node_type) == (ErrorKind.EXECUTION_FAILED, "3", "SaveImage")
    assert JobError.from_exception(ConnectionLost("gone"), server="c").server == "c"
    assert JobError.from_exception(ConnectionLost("gone")).retryable
    assert JobError.from_exception(ServerHTTPError("x", status=503)).status == 503
    assert JobError.from_exception(ParameterError("bad")).kind is ErrorKind.INVALID_VALUE
    assert JobError.from_exception(NoServerAvailable("none")).kind is ErrorKind.NO_SERVER
    assert JobError.from_exception(JobCancelled("c")).kind is ErrorKind.CANCELLED
    bug = JobError.from_exception(KeyError("k"))
    assert bug.kind is ErrorKind.INTERNAL and bug.message.startswith("internal error")
    d = rej.to_dict()
    assert {"kind", "message", "retryable"} <= set(d) and d["kind"] == "rejected"


async def test_job_transitions_are_checked() -> None:
    job = Job(JobSpec(API), asyncio.get_running_loop(), max_attempts=3)
    with pytest.raises(IllegalTransition):
        job.running()                                     # not submitted yet
    with pytest.raises(IllegalTransition):
        job.requeued(0.0, JobError(ErrorKind.TIMEOUT, "slow"))
    job.submitted(Attempt(server="a", prompt_id="p1"))
    assert (job.state, job.server, job.prompt_id) == (JobState.SUBMITTED, "a", "p1")
    with pytest.raises(IllegalTransition):
        job.submitted(Attempt(server="b", prompt_id="p2"))
    job.running()
    job.progressed(Progress(fraction=0.5))
    job.requeued(0.0, JobError(ErrorKind.CONNECTION_LOST, "gone", retryable=True))
    assert (job.state, job.server, job.attempts[0].outcome) == (JobState.QUEUED, None, AttemptOutcome.RETRIED)
    assert job.failed_on == {"a"} and job.progress == Progress()
    job.submitted(Attempt(server="b", prompt_id="p2"))
    with pytest.raises(IllegalTransition):
        job.finish(JobState.RUNNING)
    assert job.finish(JobState.SUCCEEDED, outputs=[])
    assert not job.finish(JobState.FAILED, JobError(ErrorKind.INTERNAL, "late"))  # ends exactly once
    snap = job.future.result()
    assert snap.state is JobState.SUCCEEDED and snap.error is None
    assert [a.outcome for a in snap.attempts] == [AttemptOutcome.RETRIED, AttemptOutcome.SUCCEEDED]
    job.progressed(Progress(fraction=0.1))                # a late event is ignored
    assert job.progress.fraction == 1.0
