import json

import pytest

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import apply_assignments, load_api_prompt, parse_assignment, seed_inputs, vary_seed

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "KSampler", "inputs": {"seed": 5, "model": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}


def test_load_and_errors(tmp_path):
    p = tmp_path / "w.json"
    p.write_text(json.dumps(PROMPT))
    assert load_api_prompt(p) == PROMPT
    p.write_text(json.dumps({"prompt": PROMPT, "client_id": "x"}))
    assert load_api_prompt(p) == PROMPT
    for text, msg in [
        ("{", "malformed JSON at line 1"),
        ("[]", "expected a JSON object"),
        ("{}", "no nodes"),
        ('{"nodes": [], "links": []}', "UI-format"),
        ('{"1": {"inputs": {}}}', "class_type is missing"),
        ('{"1": {"class_type": "A", "inputs": {"x": ["9", 0]}}}', "links to node '9'"),
    ]:
        p.write_text(text)
        with pytest.raises(WorkflowError, match=msg):
            load_api_prompt(p)
    with pytest.raises(WorkflowError, match="not found"):
        load_api_prompt(tmp_path / "missing.json")


def test_assignments():
    assert parse_assignment("1.width=128") == ("1", "width", 128)
    assert parse_assignment("3.filename_prefix=a=b") == ("3", "filename_prefix", "a=b")
    out = apply_assignments(PROMPT, [parse_assignment("1.width=128"), parse_assignment('3.filename_prefix="y"')])
    assert out["1"]["inputs"]["width"] == 128 and PROMPT["1"]["inputs"]["width"] == 64
    for bad, msg in [("9.width=1", "no node '9'"), ("1.depth=1", "has no input 'depth'"), ("3.images=1", "linked"), ("nope", "NODE_ID.INPUT=VALUE")]:
        with pytest.raises(WorkflowError, match=msg):
            apply_assignments(PROMPT, [parse_assignment(bad)])


def test_seed_variation():
    assert seed_inputs(PROMPT) == [("2", "seed")]
    assert vary_seed(PROMPT, 0) is PROMPT
    assert vary_seed(PROMPT, 3)["2"]["inputs"]["seed"] == 8
    assert PROMPT["2"]["inputs"]["seed"] == 5
