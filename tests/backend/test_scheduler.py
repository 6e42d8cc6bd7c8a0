import json
from pathlib import Path

import pytest

from comfy_backend.scheduler import (
    EarliestFinishPolicy,
    Estimator,
    LeastQueuePolicy,
    RoundRobinPolicy,
    ServerLoad,
    combo_options,
    make_policy,
    missing_capabilities,
)

OBJECT_INFO = json.loads((Path(__file__).resolve().parents[2] / "comfy_backend/fake_server/object_info.json").read_text())


def test_estimator_learns_and_generalises():
    e = Estimator(default_seconds=5)
    assert e.estimate("fast", "wf1") == 5
    for _ in range(5):
        e.observe("fast", "wf1", 1.0)
        e.observe("slow", "wf1", 4.0)
        e.observe("fast", "wf2", 3.0)
    assert e.estimate("fast", "wf1") == pytest.approx(1.0)
    # wf2 never ran on "slow": its estimate follows slow's speed factor (4x fast)
    assert e.estimate("slow", "wf2") == pytest.approx(12.0, rel=0.05)
    assert e.factor("slow") / e.factor("fast") == pytest.approx(4.0, rel=0.05)


def load(id, order, free, backlog, est, in_flight=0, queue=0):
    return ServerLoad(id, order, free, in_flight, queue, backlog, est)


def test_earliest_finish_waits_for_the_fast_server():
    fast = load("fast", 0, 0, backlog=1.0, est=1.0)   # busy, frees in 1 s
    slow = load("slow", 1, 1, backlog=0.0, est=4.0)   # idle but 4x slower
    assert EarliestFinishPolicy().choose([fast, slow]).id == "fast"
    # the baselines grab whatever is free
    assert LeastQueuePolicy().choose([fast, slow]).id == "slow"
    assert RoundRobinPolicy().choose([fast, slow]).id == "slow"


def test_least_queue_counts_foreign_jobs():
    a = load("a", 0, 1, 0, 1, queue=3)
    b = load("b", 1, 1, 0, 1, queue=0)
    assert LeastQueuePolicy().choose([a, b]).id == "b"


def test_round_robin_cycles():
    rr = RoundRobinPolicy()
    c = [load("a", 0, 1, 0, 1), load("b", 1, 1, 0, 1), load("c", 2, 1, 0, 1)]
    assert [rr.choose(c).id for _ in range(4)] == ["a", "b", "c", "a"]


def test_unknown_policy():
    with pytest.raises(ValueError, match="unknown scheduling policy"):
        make_policy("fastest")


def test_combo_options_both_formats():
    assert combo_options([["a", "b"], {}]) == ["a", "b"]
    assert combo_options(["COMBO", {"options": ["x"]}]) == ["x"]
    assert combo_options(["INT", {"default": 1}]) is None


def test_capabilities():
    ok = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64}}, "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
    assert missing_capabilities(ok, OBJECT_INFO) == []
    bad = {"1": {"class_type": "NoSuchNode", "inputs": {}},
           "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
           "3": {"class_type": "ImageToMask", "inputs": {"channel": "purple"}}}
    problems = missing_capabilities(bad, OBJECT_INFO)
    assert "node type NoSuchNode is not installed" in problems
    assert any("model file sdxl.safetensors is missing" in p for p in problems)
    assert any("has no option 'purple'" in p for p in problems)
    # a model the /models list knows (object_info cache stale) is fine
    assert missing_capabilities({"2": bad["2"]}, OBJECT_INFO, {"checkpoints": ["sdxl.safetensors"]}) == []
    # an image we upload ourselves is not checked
    li = {"1": {"class_type": "LoadImage", "inputs": {"image": "later.png"}}}
    assert missing_capabilities(li, OBJECT_INFO) == []


def test_ties_go_to_the_least_recently_used_server():
    a = ServerLoad("a", 0, 2, 0, 0, 0.0, 1.0, last_used=10.0)
    b = ServerLoad("b", 1, 2, 0, 0, 0.0, 1.0, last_used=5.0)
    assert EarliestFinishPolicy().choose([a, b]).id == "b"
