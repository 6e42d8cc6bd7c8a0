"""Parse once: one model (ParsedWorkflow) that every workflow function takes; the one seed rule."""
from __future__ import annotations

import json
import random

import pytest

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import (
    SEED_MAX,
    ParsedWorkflow,
    apply_values,
    from_json,
    list_fields,
    load_workflow,
    next_value,
    ports,
    seed_controls,
    suggest,
    to_api,
    vary_seed,
)
from comfy_backend.workflow import parsed as parsed_module
from comfy_backend.workflow.seeds import RANDOM_SEED_LIMIT

from .corpus import FIXTURES

OI = json.loads((FIXTURES / "mini_object_info.json").read_text())
WF_PATH = FIXTURES / "features.workflow.json"


def test_a_loaded_file_is_parsed_once_for_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_workflow(WF_PATH).model
    assert isinstance(model, ParsedWorkflow) and model.kind == "ui"
    calls = []
    real = parsed_module.parse_workflow
    monkeypatch.setattr(parsed_module, "parse_workflow", lambda raw: calls.append(1) or real(raw))
    fields = list_fields(model, OI)
    suggest(model, OI, fields=fields)
    ports(model, OI)
    seed_controls(model, OI)
    to_api(model, OI)
    assert calls == []  # the graph was built when the file was loaded
    raw = json.loads(WF_PATH.read_text())
    assert to_api(raw, OI) == to_api(model, OI)  # raw dicts are still accepted (parsed per call)
    assert [f.key for f in list_fields(raw, OI)] == [f.key for f in fields]


def test_apply_values_returns_what_it_was_given() -> None:
    raw = json.loads(WF_PATH.read_text())
    model = ParsedWorkflow.of(raw)
    patched = apply_values(model, {("5", "steps"): 9}, OI)
    assert isinstance(patched, ParsedWorkflow) and patched.raw is not raw
    assert to_api(patched, OI)["5"]["inputs"]["steps"] == 9
    as_dict = apply_values(raw, {("5", "steps"): 9}, OI)
    assert isinstance(as_dict, dict) and as_dict == patched.raw
    assert raw["nodes"][6]["widgets_values"][2] == 20  # the original is untouched
    api = ParsedWorkflow.of({"1": {"class_type": "KSampler", "inputs": {"seed": 1}}})
    assert api.kind == "api" and apply_values(api, {("1", "seed"): 2}, OI).raw["1"]["inputs"]["seed"] == 2
    with pytest.raises(WorkflowError, match="API prompt"):
        to_api(api, OI)


def test_graph_rules_are_checked_at_the_edge() -> None:
    with pytest.raises(WorkflowError, match=r"^x: nodes\[1\]\.id: duplicate node id 1 \(also nodes\[0\]\)$"):
        from_json({"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}, "x")
    with pytest.raises(WorkflowError, match=r"definitions\.subgraphs\[0\]\.nodes\[1\]\.id: duplicate"):
        from_json({"nodes": [], "definitions": {"subgraphs": [
            {"id": "s", "nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}]}}, "x")


def test_one_seed_rule() -> None:
    rng = random.Random(3)
    prompt = {"1": {"class_type": "KSampler", "inputs": {"seed": SEED_MAX}}}
    assert vary_seed(prompt, 1)["1"]["inputs"]["seed"] == 0  # increment wraps at 2^64
    drawn = [vary_seed(prompt, 0, randomize=True, rng=rng)["1"]["inputs"]["seed"] for _ in range(50)]
    assert all(0 <= s < RANDOM_SEED_LIMIT for s in drawn)
    assert all(10 <= next_value(0, "randomize", minimum=10, maximum=20, rng=rng) <= 20 for _ in range(20))
