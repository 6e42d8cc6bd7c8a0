"""Formats (JSON, PNG, WebP), parameters, patching, seed control and the CLI commands."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from comfy_backend.cli.main import main
from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import (
    ParameterError,
    apply_seed_control,
    apply_values,
    expose,
    list_fields,
    load_bytes,
    load_workflow,
    next_value,
    ports,
    rebind,
    rename,
    seed_controls,
    suggest,
    to_api,
    unexpose,
    values_for,
)

from .corpus import FIXTURES

OI_PATH = FIXTURES / "mini_object_info.json"
OI = json.loads(OI_PATH.read_text())
WF_PATH = FIXTURES / "features.workflow.json"
WF = json.loads(WF_PATH.read_text())


def png_with(meta: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in meta.items():
        info.add_text(k, v, zip=(k == "prompt"))
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_png_and_webp_metadata() -> None:
    prompt = to_api(WF, OI)
    wf = load_bytes(png_with({"workflow": json.dumps(WF), "prompt": json.dumps(prompt)}), "x.png")
    assert wf.container == "png" and wf.kind == "ui" and wf.ui == WF and wf.api == prompt
    exif = Image.Exif()
    exif[0x010E] = "workflow:" + json.dumps(WF)
    exif[0x010F] = "prompt:" + json.dumps(prompt)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "WEBP", exif=exif.tobytes())
    wf = load_bytes(buf.getvalue(), "x.webp")
    assert wf.container == "webp" and wf.ui == WF and wf.api == prompt
    with pytest.raises(WorkflowError, match="no ComfyUI workflow"):
        load_bytes(png_with({"Comment": "hi"}), "plain.png")


@pytest.mark.parametrize("text,message", [
    ('{"nodes": [{"id": 1, "type": "A", "widgets_values": 3}]}', "nodes[0].widgets_values: expected array or object or null"),
    ('{"nodes": [{"id": 1}]}', "nodes[0]: missing 'type'"),
    ('{"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]}', "nodes[1].id: duplicate node id 1"),
    ('{"nodes": [], "links": [[1, 2, "x", 3, 0, "A"]]}', "links[0]"),
    ('{"1": {"inputs": {}}}', "neither a UI workflow"),
    ('{"1": {"class_type": ""}}', "1.class_type: must not be empty"),
    ('[1, 2]', "neither a UI workflow"),
    ('{"nodes": [', "malformed JSON at line 1"),
])
def test_bad_files_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "w.json"
    p.write_text(text)
    with pytest.raises(WorkflowError) as exc:
        load_workflow(p)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_fields_suggest_ports() -> None:
    fields = list_fields(WF, OI)
    keys = [f.key for f in fields]
    assert "4.width" not in keys            # linked to the PrimitiveNode
    assert "11.value" in keys and "5.seed" in keys
    seed = next(f for f in fields if f.key == "5.seed")
    assert seed.control == "fixed" and seed.constraints.min == 0 and seed.widget_index == 0
    sugg = {p.id: p for p in suggest(WF, OI)}
    assert sugg["positive_prompt"].node_id == "2" and sugg["negative_prompt"].node_id == "3"
    assert {"seed", "steps", "cfg", "sampler", "scheduler", "denoise", "checkpoint", "filename_prefix"} <= set(sugg)
    prts = ports(WF, OI)
    assert {(p.direction, p.node_id, p.media) for p in prts} == {("output", "8", "image"), ("output", "14", "image")}
    api_sugg = {p.id for p in suggest(to_api(WF, OI), OI)}
    assert {"positive_prompt", "negative_prompt", "seed"} <= api_sugg


def test_prompt_role_comes_from_the_link_not_the_title() -> None:
    wf = json.loads(json.dumps(WF))
    for n in wf["nodes"]:
        if n["id"] == 2:
            n["title"] = "Negative"
    assert {p.id: p.node_id for p in suggest(wf, OI)}["positive_prompt"] == "2"


def test_exposed_parameter_checks_values() -> None:
    fields = {f.key: f for f in list_fields(WF, OI)}
    taken: set[str] = set()
    steps = expose(fields["5.steps"], label="Steps", taken=taken)
    sampler = expose(fields["5.sampler_name"], taken=taken)
    assert steps.id == "steps" and steps.check(12) == 12 and steps.check(12.0) == 12
    with pytest.raises(ParameterError, match="below the minimum 1"):
        steps.check(0)
    with pytest.raises(ParameterError, match="expected an integer"):
        steps.check("7")
    with pytest.raises(ParameterError, match="not one of 'euler', 'dpmpp_2m'"):
        sampler.check("heun")
    params = [rename(steps, "Sampling steps"), sampler]
    assert params[0].label == "Sampling steps"
    assert values_for(params, {"steps": 9}) == {("5", "steps"): 9}
    assert unexpose(params, "steps") == [sampler]
    with pytest.raises(ParameterError):
        values_for(params, {"nope": 1})


def test_rebind_after_edit() -> None:
    fields = {f.key: f for f in list_fields(WF, OI)}
    params = [expose(fields[k]) for k in ("5.steps", "2.text", "8.filename_prefix", "4.height")]
    new = json.loads(json.dumps(WF))
    by_id = {n["id"]: n for n in new["nodes"]}
    by_id[2]["id"] = 40                                   # node re-created with a new id
    new["links"] = [[l[0], l[1] if l[1] != 2 else 40, l[2], l[3] if l[3] != 2 else 40, l[4], l[5]] for l in new["links"]]
    new["nodes"] = [n for n in new["nodes"] if n["id"] != 8]   # save node deleted
    by_id[4]["inputs"].append({"name": "height", "type": "INT", "widget": {"name": "height"}, "link": 99})
    new["links"].append([99, 11, 0, 4, 1, "INT"])
    status = {b.parameter.input_name: (b.status, b.node_id, b.reason) for b in rebind(params, WF, new, OI)}
    assert status["steps"][0] == "ok"
    assert status["text"][:2] == ("moved", "40")
    assert status["filename_prefix"][0] == "broken" and "deleted" in status["filename_prefix"][2]
    assert status["height"][0] == "broken" and "linked" in status["height"][2]


def test_patch_ui_and_seed_control() -> None:
    patched = apply_values(WF, {("5", "seed"): 7, ("11", "value"): 1024, ("2", "text"): "a dog"}, OI)
    out = to_api(patched, OI)
    assert out["5"]["inputs"]["seed"] == 7 and out["4"]["inputs"]["width"] == 1024 and out["2"]["inputs"]["text"] == "a dog"
    assert next(n for n in patched["nodes"] if n["id"] == 5)["widgets_values"][:2] == [7, "fixed"]
    with pytest.raises(WorkflowError, match="linked"):
        apply_values(WF, {("4", "width"): 5}, OI)
    with pytest.raises(WorkflowError, match="has no widget 'nope'"):
        apply_values(WF, {("5", "nope"): 5}, OI)
    wf = json.loads(json.dumps(WF))
    next(n for n in wf["nodes"] if n["id"] == 5)["widgets_values"][1] = "increment"
    controls = seed_controls(wf, OI)
    assert controls == {("5", "seed"): "increment", ("4", "width"): "fixed"}
    prompt = to_api(wf, OI)
    assert [apply_seed_control(prompt, controls, i, object_info=OI)["5"]["inputs"]["seed"] for i in range(3)] == [42, 43, 44]
    assert next_value(0, "decrement", index=3) == 0
    r = next_value(5, "randomize", rng=random.Random(1))
    assert 0 <= r <= 1125899906842624


def test_cli_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["workflow", "validate", str(WF_PATH)]) == 0
    assert "UI workflow 0.4, 14 nodes, 1 subgraph definitions" in capsys.readouterr().out
    assert main(["workflow", "to-api", str(WF_PATH), "--object-info", str(OI_PATH)]) == 0
    assert json.loads(capsys.readouterr().out)["13:1"]["class_type"] == "ImageInvert"
    assert main(["workflow", "params", str(WF_PATH), "--object-info", str(OI_PATH), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"fields", "suggested", "ports"} <= set(data)
    assert main(["workflow", "params", str(WF_PATH), "--object-info", str(OI_PATH)]) == 0
    assert "[positive_prompt]" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [{"id": 1, "type": 5}]}')
    assert main(["workflow", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nodes[0].type" in err
    assert main(["workflow", "to-api", str(WF_PATH)]) == 2
    assert "--object-info" in capsys.readouterr().err
