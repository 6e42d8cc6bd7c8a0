"""Converter rules on our own small fixtures."""
from __future__ import annotations

import copy
import json
import time

import pytest

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import ConvertOptions, NodeDefs, to_api
from comfy_backend.workflow.widgets import align

from .corpus import FIXTURES

OI = json.loads((FIXTURES / "mini_object_info.json").read_text())
WF = json.loads((FIXTURES / "features.workflow.json").read_text())
EXPECTED = json.loads((FIXTURES / "features.prompt.json").read_text())


def strip_meta(p: dict) -> dict:
    return {k: {kk: vv for kk, vv in v.items() if kk != "_meta"} for k, v in p.items()}


def node(wf: dict, nid: int) -> dict:
    return next(n for n in wf["nodes"] if n["id"] == nid)


def test_features_fixture() -> None:
    """Reroute, PrimitiveNode, bypass, mute, note, subgraph with outer:inner ids."""
    assert strip_meta(to_api(WF, OI)) == EXPECTED


def test_1_0_object_links_give_the_same_prompt() -> None:
    wf = copy.deepcopy(WF)
    wf["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), l)) for l in wf["links"]]
    wf["links"].insert(3, None)
    assert strip_meta(to_api(wf, OI)) == EXPECTED


def test_bypass_without_matching_input_drops_the_link() -> None:
    wf = copy.deepcopy(WF)
    node(wf, 6)["mode"] = 4   # VAEDecode bypassed: its inputs are LATENT and VAE, the target wants IMAGE
    out = to_api(wf, OI)
    assert "images" not in out["8"]["inputs"] and "6" not in out


def test_muted_upstream_prunes_the_link_and_keeps_the_widget() -> None:
    wf = copy.deepcopy(WF)
    node(wf, 4)["mode"] = 2
    out = to_api(wf, OI)
    assert "latent_image" not in out["5"]["inputs"] and "4" not in out


def test_list_values_are_wrapped() -> None:
    wf = copy.deepcopy(WF)
    node(wf, 8)["widgets_values"] = [["a", "b"]]
    assert to_api(wf, OI)["8"]["inputs"]["filename_prefix"] == {"__value__": ["a", "b"]}


def test_dynamic_prompts_and_text_replacement() -> None:
    wf = copy.deepcopy(WF)
    node(wf, 2)["widgets_values"] = ["a {cat|cat} // comment\nsits /* x */"]
    node(wf, 8)["widgets_values"] = ["%KSampler.steps%/%date:yyyy%-x"]
    out = to_api(wf, OI)
    assert out["2"]["inputs"]["text"] == "a cat \nsits "
    assert out["8"]["inputs"]["filename_prefix"] == f"20/{time.localtime().tm_year}-x"
    raw = to_api(wf, OI, ConvertOptions(dynamic_prompts=False, text_replacements=False))
    assert raw["2"]["inputs"]["text"].startswith("a {cat|cat}")


def test_unknown_types_and_keep() -> None:
    wf = copy.deepcopy(WF)
    node(wf, 6)["type"] = "MysteryDecode"
    with pytest.raises(WorkflowError, match=r"nodes\[\d+\] \(MysteryDecode\)"):
        to_api(wf, OI)
    assert to_api(wf, OI, ConvertOptions(unknown_nodes="keep"))["6"]["class_type"] == "MysteryDecode"


def test_group_node_without_definition_is_a_clear_error() -> None:
    wf = copy.deepcopy(WF)
    node(wf, 6)["type"] = "workflow>MyGroup"
    with pytest.raises(WorkflowError, match=r"group node 'workflow>MyGroup' has no definition in extra.groupNodes"):
        to_api(wf, OI)


def test_link_cycle_through_reroutes_is_an_error() -> None:
    wf = copy.deepcopy(WF)
    wf["nodes"].append({"id": 20, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 21}], "outputs": [{"name": "", "type": "*", "links": [20]}]})
    wf["nodes"].append({"id": 21, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 20}], "outputs": [{"name": "", "type": "*", "links": [21]}]})
    wf["links"] += [[20, 20, 0, 21, 0, "*"], [21, 21, 0, 20, 0, "*"], [22, 21, 0, 14, 0, "IMAGE"]]
    node(wf, 14)["inputs"][0]["link"] = 22
    with pytest.raises(WorkflowError, match="cycle"):
        to_api(wf, OI)


def test_alignment_handles_force_input_controls_and_growth() -> None:
    defs = NodeDefs(OI)
    lay = defs.layout("StringListNode")          # items (forceInput) + sep
    assert [s.name for s in lay] == ["items", "sep"]
    assert align(lay, [";"]) == [None, 0]         # frontend >= 1.16: no widget for forceInput
    assert align(lay, ["x", ";"]) == [0, 1]       # older frontends kept a value for it
    lay = defs.layout("ModelPicker")              # combo with control + filter companions
    assert [s.kind for s in lay] == ["value", "control", "filter", "value"]
    assert align(lay, ["m2", 0.7]) == [0, None, None, 1]
    assert align(lay, ["m2", "fixed", "", 0.7]) == [0, 1, 2, 3]
    lay = defs.layout("KSampler")
    assert align(lay, [1, "fixed", 20, 8, "euler", "normal"]) == [0, 1, 2, 3, 4, 5, None]  # denoise added later
    assert [s.name for s in defs.layout("LoadImage")] == ["image", "upload"]


def test_subgraph_promoted_widget_value_comes_from_the_host() -> None:
    wf = copy.deepcopy(WF)
    sg = wf["definitions"]["subgraphs"][0]
    sg["nodes"].append({"id": 2, "type": "SaveImage", "inputs": [
        {"name": "images", "type": "IMAGE", "link": 3},
        {"name": "filename_prefix", "type": "STRING", "widget": {"name": "filename_prefix"}, "link": 4}],
        "outputs": [], "widgets_values": ["inner"]})
    sg["inputs"].append({"id": "i2", "name": "prefix", "type": "STRING", "linkIds": [4]})
    sg["links"] += [{"id": 3, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
                    {"id": 4, "origin_id": -10, "origin_slot": 1, "target_id": 2, "target_slot": 1, "type": "STRING"}]
    node(wf, 13)["widgets_values"] = ["from_host"]
    out = to_api(wf, OI)
    assert out["13:2"]["inputs"] == {"filename_prefix": "from_host", "images": ["13:1", 0]}
