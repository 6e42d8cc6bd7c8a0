"""Parameter discovery (issue 12): prompts through conditioning chains, subgraph inputs as fields,
``workflow validate`` link checks and the ``workflow params`` table."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from comfy_backend.cli.main import main
from comfy_backend.workflow import apply_values, list_fields, suggest, to_api
from comfy_backend.workflow.checks import link_problems
from comfy_backend.workflow.roles import prompt_roles

from .corpus import FIXTURES, needs_corpus
from .suggestion_report import report

OI: dict[str, Any] = json.loads((FIXTURES / "mini_object_info.json").read_text())
C = ["CONDITIONING", {}]
OI.update({
    "FluxGuidance": {"input": {"required": {"conditioning": C, "guidance": ["FLOAT", {"default": 3.5}]}},
                     "output": ["CONDITIONING"], "output_name": ["CONDITIONING"]},
    "ControlNetApplyAdvanced": {"input": {"required": {"positive": C, "negative": C, "strength": ["FLOAT", {}]}},
                                "output": ["CONDITIONING", "CONDITIONING"], "output_name": ["positive", "negative"]},
    "ConditioningZeroOut": {"input": {"required": {"conditioning": C}}, "output": ["CONDITIONING"],
                            "output_name": ["CONDITIONING"]},
    "CFGGuider": {"input": {"required": {"positive": C, "negative": C, "cfg": ["FLOAT", {"default": 8}]}},
                  "output": ["GUIDER"], "output_name": ["GUIDER"]},
    "BasicGuider": {"input": {"required": {"conditioning": C}}, "output": ["GUIDER"], "output_name": ["GUIDER"]},
    "SamplerCustomAdvanced": {"input": {"required": {"guider": ["GUIDER", {}], "noise": ["NOISE", {}]}},
                              "output": ["LATENT"], "output_name": ["output"]},
    "TextNode": {"input": {"required": {"value": ["STRING", {"multiline": True}]}}, "output": ["STRING"],
                 "output_name": ["STRING"]},
    "EncodeLinked": {"input": {"required": {"clip": ["CLIP", {}], "text": ["STRING", {"forceInput": True}]}},
                     "output": ["CONDITIONING"], "output_name": ["CONDITIONING"]},
})


def enc(text: str) -> dict[str, Any]:
    return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["1", 1]}}


def test_prompts_through_conditioning_chains_and_guiders() -> None:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a"}},
        "2": enc("a cat"), "3": enc("blurry"), "4": enc("unused"),
        "5": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["2", 0], "guidance": 3.5}},
        "6": {"class_type": "ControlNetApplyAdvanced", "inputs": {"positive": ["5", 0], "negative": ["3", 0], "strength": 1}},
        "7": {"class_type": "CFGGuider", "inputs": {"positive": ["6", 0], "negative": ["6", 1], "cfg": 5}},
        "8": {"class_type": "SamplerCustomAdvanced", "inputs": {"guider": ["7", 0], "noise": ["1", 0]}},
    }
    assert prompt_roles(prompt, OI) == {"2": "positive", "3": "negative"}
    ids = {p.id: p.node_id for p in suggest(prompt, OI)}
    assert ids["positive_prompt"] == "2" and ids["negative_prompt"] == "3" and ids["cfg"] == "7"


def test_zeroed_out_negative_and_linked_text_sources() -> None:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a"}},
        "2": {"class_type": "TextNode", "inputs": {"value": "a dog"}},
        "3": {"class_type": "EncodeLinked", "inputs": {"clip": ["1", 1], "text": ["2", 0]}},
        "4": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["3", 0]}},
        "5": {"class_type": "KSampler", "inputs": {"positive": ["3", 0], "negative": ["4", 0], "seed": 1}},
    }
    roles = prompt_roles(prompt, OI)
    assert roles == {"3": "positive", "2": "positive"}  # the zeroed-out negative is no prompt
    sugg = {p.id: (p.node_id, p.input_name) for p in suggest(prompt, OI)}
    assert sugg["positive_prompt"] == ("2", "value") and "negative_prompt" not in sugg


def subgraph_workflow(host_values: list[Any]) -> dict[str, Any]:
    """A KSampler whose positive prompt is encoded inside a subgraph, fed by the subgraph input ``Prompt``."""
    sub = {"id": "sg", "name": "Encode", "inputs": [{"id": "i0", "name": "Prompt", "type": "STRING"},
                                                    {"id": "i1", "name": "clip", "type": "CLIP"}],
           "outputs": [{"id": "o0", "name": "CONDITIONING", "type": "CONDITIONING"}],
           "nodes": [{"id": 1, "type": "CLIPTextEncode", "widgets_values": ["inner text"],
                      "inputs": [{"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 1},
                                 {"name": "clip", "type": "CLIP", "link": 2}],
                      "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [3]}]}],
           "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "STRING"},
                     {"id": 2, "origin_id": -10, "origin_slot": 1, "target_id": 1, "target_slot": 1, "type": "CLIP"},
                     {"id": 3, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "CONDITIONING"}]}
    nodes = [
        {"id": 1, "type": "CheckpointLoaderSimple", "widgets_values": ["a.safetensors"],
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [10]}, {"name": "CLIP", "type": "CLIP", "links": [11]},
                     {"name": "VAE", "type": "VAE", "links": None}]},
        {"id": 2, "type": "sg", "widgets_values": host_values,
         "inputs": [{"name": "Prompt", "type": "STRING", "widget": {"name": "Prompt"}, "link": None},
                    {"name": "clip", "type": "CLIP", "link": 11}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [12]}]},
        {"id": 3, "type": "KSampler", "widgets_values": [7, "fixed", 20, 8, "euler", "normal", 1],
         "inputs": [{"name": "model", "type": "MODEL", "link": 10}, {"name": "positive", "type": "CONDITIONING", "link": 12}]},
    ]
    links = [[10, 1, 0, 3, 0, "MODEL"], [11, 1, 1, 2, 1, "CLIP"], [12, 2, 0, 3, 1, "CONDITIONING"]]
    return {"version": 0.4, "nodes": nodes, "links": links, "definitions": {"subgraphs": [sub]}}


@pytest.mark.parametrize("host_values,expected", [(["on the host"], "on the host"), ([], "inner text")])
def test_subgraph_inputs_are_fields_suggested_and_patched(host_values: list[Any], expected: str) -> None:
    wf = subgraph_workflow(host_values)
    fields = {(f.node_id, f.input_name): f for f in list_fields(wf, OI)}
    field = fields[("2:1", "text")]
    assert field.value == expected and field.label == "Prompt"
    assert to_api(wf, OI)["2:1"]["inputs"]["text"] == expected
    sugg = {p.id: p for p in suggest(wf, OI)}
    assert (sugg["positive_prompt"].node_id, sugg["positive_prompt"].input_name) == ("2:1", "text")
    patched = apply_values(wf, {("2:1", "text"): "new"}, OI)
    assert to_api(patched, OI)["2:1"]["inputs"]["text"] == "new"
    assert "label" not in field.model_dump()  # the JSON form of a field is unchanged


def test_link_problems_name_the_place() -> None:
    wf = subgraph_workflow(["x"])
    bad = copy.deepcopy(wf)
    bad["links"].append([13, 99, 0, 3, 0, "MODEL"])                 # origin node 99 does not exist
    bad["links"].append([14, 1, 5, 3, 0, "MODEL"])                  # node 1 has 3 outputs
    bad["definitions"]["subgraphs"][0]["links"].append(
        {"id": 4, "origin_id": -10, "origin_slot": 7, "target_id": 1, "target_slot": 9, "type": "X"})
    assert link_problems(wf) == []
    msgs = [str(p) for p in link_problems(bad)]
    assert msgs[0] == "links[3]: link 13 starts at node 99, which does not exist (dangling link)"
    assert msgs[1].startswith("links[4]: link 14 starts at output 5 of node 1 (nodes[0], CheckpointLoaderSimple)")
    assert msgs[2].startswith("definitions.subgraphs[0].links[3]: link 4 starts at subgraph input 7")
    assert msgs[3].startswith("definitions.subgraphs[0].links[3]: link 4 ends at input 9 of node 1")


def test_cli_validate_and_params_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = subgraph_workflow(["x"])
    good, bad, dup, oi = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "dup.json", tmp_path / "oi.json"
    good.write_text(json.dumps(wf))
    oi.write_text(json.dumps(OI))
    wf["links"].append([13, 99, 0, 3, 0, "MODEL"])
    bad.write_text(json.dumps(wf))
    dup.write_text(json.dumps({"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}))
    assert main(["workflow", "validate", str(good)]) == 0
    assert main(["workflow", "validate", str(bad)]) == 2
    assert "links[3]: link 13 starts at node 99, which does not exist" in capsys.readouterr().err
    assert main(["workflow", "validate", str(dup)]) == 2
    assert "nodes[1].id: duplicate node id 1 (also nodes[0])" in capsys.readouterr().err
    assert main(["workflow", "params", str(good), "--object-info", str(oi), "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FIELD", "TYPE", "VALUE", "RANGE", "NODE", "SUGGESTED"]
    seed = next(line for line in lines if " 3.seed " in line)
    assert seed.startswith("*") and "[seed]" in seed and "0..18446744073709551615" in seed
    assert any(" 2:1.text " in line and "[positive_prompt]" in line for line in lines)


@needs_corpus
def test_corpus_suggestion_rate() -> None:
    """Prompt, seed, steps and cfg are suggested on SD-style corpus workflows (423/708 before issue 12)."""
    r = report()
    assert not r.errors, r.errors[:5]
    assert r.considered > 600 and r.hits / r.considered >= 0.88, (r.hits, r.considered)
