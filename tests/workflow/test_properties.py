"""Property-based tests: patch/convert round-trips, and malformed input only ever raises WorkflowError."""
from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import ConvertOptions, apply_values, list_fields, to_api
from comfy_backend.workflow import from_json as from_json_safe

from .corpus import FIXTURES

OI = json.loads((FIXTURES / "mini_object_info.json").read_text())
WF = json.loads((FIXTURES / "features.workflow.json").read_text())
PROMPT = {k: v for k, v in to_api(WF, OI).items()}

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.text(max_size=8))
json_any = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=6), c, max_size=4)),
                        max_leaves=20)


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(1, 10000), cfg=st.floats(0, 100, allow_nan=False), text=st.text(max_size=40),
       width=st.integers(16, 16384))
def test_patch_ui_then_convert_equals_patch_api(steps: int, cfg: float, text: str, width: int) -> None:
    values = {("5", "steps"): steps, ("5", "cfg"): cfg, ("3", "text"): text, ("8", "filename_prefix"): "p"}
    # dynamic prompts off: the frontend resolves "{a|b}" in a text at queue time, a patched API prompt is sent as is
    via_ui = to_api(apply_values(WF, values, OI), OI, ConvertOptions(dynamic_prompts=False))
    via_api = apply_values(PROMPT, values, OI)
    assert via_ui == via_api
    fields = {(f.node_id, f.input_name): f.value for f in list_fields(apply_values(WF, values, OI), OI)}
    for k, v in values.items():
        assert fields[k] == v


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=0, max_size=6))
def test_link_shape_and_order_do_not_change_the_prompt(order: list[int]) -> None:
    wf = copy.deepcopy(WF)
    links = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), l)) for l in wf["links"]]
    for i in order:  # rotate and add null holes
        links = links[i:] + links[:i] + [None]
    wf["links"] = links
    assert to_api(wf, OI) == PROMPT


def _mutate(data: object, path: list, value: object) -> object:
    data = copy.deepcopy(data)
    cur = data
    for p in path[:-1]:
        if (isinstance(cur, dict) and p in cur) or (isinstance(cur, list) and isinstance(p, int) and p < len(cur)):
            cur = cur[p]
        else:
            return data
    last = path[-1] if path else None
    if (isinstance(cur, dict) and last is not None) or (isinstance(cur, list) and isinstance(last, int) and last < len(cur)):
        cur[last] = value
    return data


paths = st.sampled_from([
    ["nodes"], ["links"], ["nodes", 0], ["nodes", 3, "widgets_values"], ["nodes", 3, "id"], ["nodes", 3, "type"],
    ["nodes", 5, "inputs"], ["nodes", 5, "inputs", 0], ["nodes", 5, "inputs", 0, "link"], ["nodes", 6, "mode"],
    ["links", 2], ["links", 2, 1], ["links", 2, 2], ["definitions"], ["definitions", "subgraphs"],
    ["definitions", "subgraphs", 0, "links"], ["definitions", "subgraphs", 0, "inputs"], ["extra"],
    ["nodes", 12, "type"], ["nodes", 4, "widgets_values"], ["nodes", 9, "outputs"], ["nodes", 9, "outputs", 0, "links"],
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=paths, value=json_any)
def test_malformed_ui_raises_only_workflow_error(path: list, value: object) -> None:
    bad = _mutate(WF, path, value)
    for fn in (lambda: to_api(bad, OI), lambda: list_fields(bad, OI), lambda: from_json_safe(bad),
               lambda: apply_values(bad, {("5", "steps"): 3}, OI)):
        try:
            fn()
        except WorkflowError:
            pass


@settings(max_examples=200, deadline=None)
@given(json_any)
def test_arbitrary_json_raises_only_workflow_error(data: object) -> None:
    for fn in (lambda: from_json_safe(data), lambda: to_api(data, OI), lambda: list_fields(data, OI)):  # type: ignore[arg-type]
        try:
            fn()
        except WorkflowError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_workflow_error(raw: bytes) -> None:
    from comfy_backend.workflow import load_bytes
    for prefix in (b"", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP"):
        try:
            load_bytes(prefix + raw, "x")
        except WorkflowError:
            pass
