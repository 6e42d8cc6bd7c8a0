"""Legacy group nodes are expanded into their inner nodes, with ``group:index`` ids."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import NodeDefs, to_api
from comfy_backend.workflow.groupnodes import group_layout

from .corpus import FIXTURES

OI = NodeDefs(json.loads((FIXTURES / "mini_object_info.json").read_text()))


def _ksampler_inputs(latent_link: Any = None) -> list[dict[str, Any]]:
    return [{"name": "model", "type": "MODEL", "link": None}, {"name": "positive", "type": "CONDITIONING", "link": None},
            {"name": "negative", "type": "CONDITIONING", "link": None},
            {"name": "latent_image", "type": "LATENT", "link": latent_link}]


GROUP = {
    "nodes": [
        {"type": "EmptyLatentImage", "outputs": [{"name": "LATENT", "type": "LATENT", "links": []}],
         "widgets_values": [512, 512, 1], "index": 0},
        {"type": "KSampler", "inputs": _ksampler_inputs(), "outputs": [{"name": "LATENT", "type": "LATENT", "links": []}],
         "widgets_values": [1, "fixed", 20, 8, "euler", "normal", 1], "index": 1},
    ],
    "links": [[None, 0, 1, 0, 4, "MODEL"], [None, 0, 1, 1, 6, "CONDITIONING"], [None, 0, 1, 2, 7, "CONDITIONING"],
              [0, 0, 1, 3, 5, "LATENT"]],
    "external": [],
}


def workflow(group_type: str = "workflow>Sampler", mode: int = 0) -> dict[str, Any]:
    return {
        "last_node_id": 10, "last_link_id": 6, "version": 0.4, "config": {}, "groups": [],
        "extra": {"groupNodes": {"Sampler": copy.deepcopy(GROUP)}},
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]},
             {"name": "CLIP", "type": "CLIP", "links": [2, 3]}, {"name": "VAE", "type": "VAE", "links": [5]}],
             "widgets_values": ["a.safetensors"]},
            {"id": 6, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "type": "CLIP", "link": 2}],
             "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [7]}], "widgets_values": ["a cat"]},
            {"id": 7, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
             "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [8]}], "widgets_values": ["blurry"]},
            {"id": 10, "type": group_type, "mode": mode,
             "inputs": [{"name": "model", "type": "MODEL", "link": 1}, {"name": "positive", "type": "CONDITIONING", "link": 7},
                        {"name": "negative", "type": "CONDITIONING", "link": 8}],
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [4]}],
             "widgets_values": [768, 512, 2, 42, "fixed", 30, 7.5, "dpmpp_2m", "karras", 0.9]},
            {"id": 8, "type": "VAEDecode", "inputs": [{"name": "samples", "type": "LATENT", "link": 4},
             {"name": "vae", "type": "VAE", "link": 5}], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [6]}]},
            {"id": 9, "type": "SaveImage", "inputs": [{"name": "images", "type": "IMAGE", "link": 6}], "widgets_values": ["out"]},
        ],
        "links": [[1, 4, 0, 10, 0, "MODEL"], [2, 4, 1, 6, 0, "CLIP"], [3, 4, 1, 7, 0, "CLIP"], [4, 10, 0, 8, 0, "LATENT"],
                  [5, 4, 2, 8, 1, "VAE"], [6, 8, 0, 9, 0, "IMAGE"], [7, 6, 0, 10, 1, "CONDITIONING"],
                  [8, 7, 0, 10, 2, "CONDITIONING"]],
    }


@pytest.mark.parametrize("group_type", ["workflow>Sampler", "workflow/Sampler"])
def test_group_node_expands_with_group_ids(group_type: str) -> None:
    out = to_api(workflow(group_type), OI)
    assert out["10:0"]["inputs"] == {"width": 768, "height": 512, "batch_size": 2}
    assert out["10:1"]["inputs"] == {
        "seed": 42, "steps": 30, "cfg": 7.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 0.9,
        "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["10:0", 0]}
    assert out["8"]["inputs"]["samples"] == ["10:1", 0]
    assert "10" not in out


def test_layout_follows_group_node_config() -> None:
    lay = group_layout("Sampler", GROUP, OI, "g")
    assert [w.slot.name for w in lay.widgets] == ["width", "height", "batch_size", "seed", "control_after_generate",
                                                 "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert lay.inputs == [(1, 0), (1, 1), (1, 2)]          # latent_image is linked inside
    assert lay.outputs == [(1, 0)]                         # EmptyLatentImage's output is used inside only


def test_repeated_widget_names_get_the_node_prefix() -> None:
    g = copy.deepcopy(GROUP)
    g["nodes"].insert(1, copy.deepcopy(g["nodes"][0]))
    g["links"] = [[None, 0, 2, 0, 4, "MODEL"], [0, 0, 2, 3, 5, "LATENT"]]
    names = [w.slot.name for w in group_layout("S", g, OI, "g").widgets]
    assert names[:6] == ["width", "height", "batch_size", "EmptyLatentImage width", "EmptyLatentImage height",
                         "EmptyLatentImage batch_size"]


def test_hidden_input_is_not_a_group_input() -> None:
    g = copy.deepcopy(GROUP)
    g["config"] = {"1": {"input": {"negative": {"visible": False}}}}
    assert group_layout("S", g, OI, "g").inputs == [(1, 0), (1, 1)]


@pytest.mark.parametrize("mode", [2, 4])
def test_muted_or_bypassed_group_sends_nothing_of_it(mode: int) -> None:
    out = to_api(workflow(mode=mode), OI)
    assert not any(k.startswith("10") for k in out) and "samples" not in out["8"]["inputs"]


def test_primitive_inside_group_takes_the_group_value() -> None:
    wf = workflow()
    g = wf["extra"]["groupNodes"]["Sampler"]
    g["nodes"][1]["inputs"].append({"name": "steps", "type": "INT", "link": None, "widget": {"name": "steps"}})
    g["nodes"].append({"type": "PrimitiveNode", "title": "Steps", "outputs": [{"name": "INT", "type": "INT", "links": [],
                       "widget": {"name": "steps"}}], "widgets_values": [20, "fixed"], "index": 2})
    g["links"].append([2, 0, 1, 4, 9, "INT"])
    lay = group_layout("Sampler", g, OI, "g")
    assert [w.slot.name for w in lay.widgets][-2:] == ["Steps value", "control_after_generate"]
    wf["nodes"][3]["widgets_values"] = [768, 512, 2, 42, "fixed", 7.5, "dpmpp_2m", "karras", 0.9, 33, "fixed"]
    out = to_api(wf, OI)
    assert out["10:1"]["inputs"]["steps"] == 33 and out["10:1"]["inputs"]["cfg"] == 7.5
    assert "10:2" not in out


def test_bad_group_definition_is_reported_by_place() -> None:
    wf = workflow()
    wf["extra"]["groupNodes"]["Sampler"]["links"].append(["x", 0, 1, 0])
    with pytest.raises(WorkflowError, match=r"extra.groupNodes\['Sampler'\].links\[4\]"):
        to_api(wf, OI)


def test_group_fields_are_listed_and_patched_under_prompt_ids() -> None:
    from comfy_backend.workflow import apply_values, list_fields

    fields = {(f.node_id, f.input_name): f.value for f in list_fields(workflow(), OI)}
    assert fields[("10:0", "width")] == 768 and fields[("10:1", "steps")] == 30
    assert not any(k[0] == "10" for k in fields)
    out = apply_values(workflow(), {("10:1", "steps"): 12, ("10:0", "height"): 640}, OI)
    assert out["nodes"][3]["widgets_values"] == [768, 640, 2, 42, "fixed", 12, 7.5, "dpmpp_2m", "karras", 0.9]
    assert to_api(out, OI)["10:1"]["inputs"]["steps"] == 12
    with pytest.raises(WorkflowError, match=r"'model' is not a widget of group node"):
        apply_values(workflow(), {("10:1", "model"): 1}, OI)


def test_group_seed_control_comes_from_the_group_node() -> None:
    from comfy_backend.workflow import seed_controls

    wf = workflow()
    wf["nodes"][3]["widgets_values"][4] = "increment"
    assert seed_controls(wf, OI)[("10:1", "seed")] == "increment"
