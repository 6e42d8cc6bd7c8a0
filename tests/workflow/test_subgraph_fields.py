"""Fields of nodes inside subgraph instances: listed, patched and converted under ``outer:inner`` ids."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import apply_values, list_fields, seed_controls, to_api

from .corpus import CAPTURE_OBJECT_INFO, CORPUS, FIXTURES, needs_corpus

OI = json.loads((FIXTURES / "mini_object_info.json").read_text())
SG = "5f1e0c6a-0000-4000-8000-000000000001"


def workflow(hosts: int = 1, promote_width: bool = True) -> dict[str, Any]:
    inner = {"id": 5, "type": "EmptyLatentImage", "mode": 0,
             "inputs": [{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": 1 if promote_width else None}],
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2]}], "widgets_values": [512, 640, 1]}
    sub = {"id": SG, "name": "Latent", "version": 1, "state": {}, "nodes": [inner], "widgets": [],
           "inputs": [{"id": "i1", "name": "width", "type": "INT", "linkIds": [1]}] if promote_width else [],
           "outputs": [{"id": "o1", "name": "LATENT", "type": "LATENT", "linkIds": [2]}],
           "links": ([{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0, "type": "INT"}]
                     if promote_width else [])
           + [{"id": 2, "origin_id": 5, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "LATENT"}]}
    nodes = [{"id": 10 + k, "type": SG, "mode": 0, "inputs": [], "outputs": [{"name": "LATENT", "type": "LATENT", "links": []}],
              "widgets_values": [768 + k] if promote_width else []} for k in range(hosts)]
    return {"version": 0.4, "nodes": nodes, "links": [], "extra": {"frontendVersion": "1.30.2"}, "definitions": {"subgraphs": [sub]}}


def fields(wf: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(f.node_id, f.input_name): f.value for f in list_fields(wf, OI)}


def test_inner_widgets_are_listed_under_prompt_ids() -> None:
    wf = workflow()
    assert fields(wf) == {("10:5", "width"): 768, ("10:5", "height"): 640, ("10:5", "batch_size"): 1}
    f = next(f for f in list_fields(wf, OI) if f.input_name == "height")
    assert f.node_title == "Latent / Empty Latent Image" and f.constraints.min == 16
    assert set(fields(wf)) <= {(k, n) for k, v in to_api(wf, OI).items() for n in v["inputs"]}


def test_patching_a_promoted_widget_writes_the_host() -> None:
    wf = apply_values(workflow(), {("10:5", "width"): 1024, ("10:5", "height"): 256}, OI)
    assert wf["nodes"][0]["widgets_values"] == [1024]
    assert wf["definitions"]["subgraphs"][0]["nodes"][0]["widgets_values"] == [512, 256, 1]
    assert to_api(wf, OI)["10:5"]["inputs"] == {"width": 1024, "height": 256, "batch_size": 1}


def test_shared_definition_is_not_patched_through_one_instance() -> None:
    wf = workflow(hosts=2)
    out = apply_values(wf, {("11:5", "width"): 999}, OI)   # promoted: each host owns its value
    assert [n["widgets_values"] for n in out["nodes"]] == [[768], [999]]
    with pytest.raises(WorkflowError, match=r"definition .* that 2 nodes use"):
        apply_values(wf, {("10:5", "height"): 1}, OI)


def test_unknown_inner_widget_is_reported() -> None:
    with pytest.raises(WorkflowError, match=r"node 10:5: no settable widget 'steps'"):
        apply_values(workflow(), {("10:5", "steps"): 1}, OI)
    with pytest.raises(WorkflowError, match=r"no node '10:9'"):
        apply_values(workflow(), {("10:9", "width"): 1}, OI)


@pytest.mark.parametrize("proxy,values", [([["5", "height"]], [300]), ([["-1", "width"], ["5", "height"]], [900, 300])])
def test_proxy_widgets_hold_the_instance_values(proxy: list[Any], values: list[Any]) -> None:
    wf = workflow(promote_width=proxy[0][0] == "-1")
    wf["nodes"][0]["properties"] = {"proxyWidgets": proxy}
    wf["nodes"][0]["widgets_values"] = values
    inputs = to_api(wf, OI)["10:5"]["inputs"]
    assert inputs["height"] == 300 and inputs["width"] == (900 if len(values) == 2 else 512)
    assert fields(wf)[("10:5", "height")] == 300
    out = apply_values(wf, {("10:5", "height"): 320}, OI)
    assert out["nodes"][0]["widgets_values"][-1] == 320
    assert out["definitions"]["subgraphs"][0]["nodes"][0]["widgets_values"] == [512, 640, 1]


def test_seed_control_inside_a_subgraph() -> None:
    wf = workflow()
    inner = wf["definitions"]["subgraphs"][0]["nodes"][0]
    inner["type"], inner["widgets_values"] = "KSampler", [5, "increment", 20, 8, "euler", "normal", 1]
    inner["inputs"] = []
    wf["definitions"]["subgraphs"][0]["links"] = wf["definitions"]["subgraphs"][0]["links"][1:]
    wf["definitions"]["subgraphs"][0]["inputs"] = []
    assert seed_controls(wf, OI)[("10:5", "seed")] == "increment"


@needs_corpus
def test_frontend_asset_with_a_proxied_subgraph_input() -> None:
    path = CORPUS / "ui" / "comfyui_frontend_index__browser_tests__assets__subgraphs__link-seed.json"
    wf = json.loads(path.read_text(encoding="utf-8"))
    oi = json.loads(CAPTURE_OBJECT_INFO.read_text(encoding="utf-8"))
    assert to_api(copy.deepcopy(wf), oi)["10:3"]["inputs"]["seed"] == 1
    assert fields_of(wf, oi)[("10:3", "seed")] == 1
    patched = apply_values(wf, {("10:3", "seed"): 42}, oi)
    assert to_api(patched, oi)["10:3"]["inputs"]["seed"] == 42


def fields_of(wf: dict[str, Any], oi: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(f.node_id, f.input_name): f.value for f in list_fields(wf, oi)}
