"""What older frontends sent along, decided from what their code left in the file (see era.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comfy_backend.workflow import to_api
from comfy_backend.workflow.era import SEED_TOGGLE_NAME, UPLOAD_2023, UPLOAD_LEGACY, Era
from comfy_backend.workflow.graph import parse_workflow
from comfy_backend.workflow.nodedefs import NodeDefs

from .corpus import CORPUS, FIXTURES, needs_corpus
from .suggestion_report import report

OI = json.loads((FIXTURES / "mini_object_info.json").read_text())
#: ComfyUI 0.3.75's full /object_info, the server the frontend captures below ran on
OI_0375 = NodeDefs(json.loads((Path(__file__).resolve().parents[2] / "comfy_backend/fake_server/object_info.json")
                              .read_text(encoding="utf-8")))
#: ``app.graph.serialize()`` and ``app.graphToPrompt()`` of a live editor (shared/reference/captures, unchanged)
CAPTURES = FIXTURES / "captures"


def wf(*nodes: dict[str, Any], links: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"version": 0.4, "nodes": list(nodes), "links": links or [], "extra": extra}


def load_image(**kw: Any) -> dict[str, Any]:
    return {"id": 1, "type": "LoadImage", "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            "widgets_values": ["a.png", "image"], **kw}


def save_image(height: float) -> dict[str, Any]:
    return {"id": 2, "type": "SaveImage", "size": {"0": 210, "1": height},
            "inputs": [{"name": "images", "type": "IMAGE", "link": 1}], "widgets_values": ["ComfyUI"]}


def ksampler() -> dict[str, Any]:
    return {"id": 3, "type": "KSampler", "inputs": [], "widgets_values": [5, True, 20, 8, "euler", "normal", 1]}


LINK = [[1, 1, 0, 2, 0, "IMAGE"]]


def test_2023_upload_button_name() -> None:
    out = to_api(wf(load_image(), save_image(250), links=LINK), OI)
    assert out["1"]["inputs"] == {"image": "a.png", UPLOAD_2023: "image"}


def test_later_legacy_files_send_upload() -> None:
    hints: list[dict[str, Any]] = [{"ds": {"scale": 1, "offset": [0, 0]}}, {"groupNodes": {}}]
    for hint in hints:
        assert to_api(wf(load_image(), save_image(250), links=LINK, **hint), OI)["1"]["inputs"][UPLOAD_LEGACY] == "image"
    shaped = load_image(inputs=[{"name": "image", "type": "COMBO", "link": None, "shape": 7}])
    assert UPLOAD_LEGACY in to_api(wf(shaped, save_image(250), links=LINK), OI)["1"]["inputs"]


def test_core_node_type_dates_the_file() -> None:
    era = Era.of(parse_workflow(wf(load_image(), {"id": 5, "type": "StableCascade_EmptyLatentImage"})))
    assert era.upload_name == UPLOAD_LEGACY


def test_versioned_frontend_sends_no_upload() -> None:
    out = to_api(wf(load_image(), save_image(250), links=LINK, frontendVersion="1.20.1"), OI)
    assert out["1"]["inputs"] == {"image": "a.png"}
    cnr = load_image(properties={"cnr_id": "comfy-core", "ver": "0.3.40"})
    assert to_api(wf(cnr, save_image(250), links=LINK), OI)["1"]["inputs"] == {"image": "a.png"}


def test_first_frontend_sent_the_seed_toggle() -> None:
    out = to_api(wf(load_image(widgets_values=["a.png"]), save_image(58), ksampler(), links=LINK), OI)
    assert out["3"]["inputs"][SEED_TOGGLE_NAME] is True
    assert "upload" not in out["1"]["inputs"] and UPLOAD_2023 not in out["1"]["inputs"]


def test_seed_toggle_not_sent_once_outputs_were_resized_for_images() -> None:
    out = to_api(wf(load_image(widgets_values=["a.png"]), save_image(250), ksampler(), links=LINK), OI)
    assert SEED_TOGGLE_NAME not in out["3"]["inputs"]
    # without any image output node nothing dates the file: the later (common) behaviour applies
    assert SEED_TOGGLE_NAME not in to_api(wf(ksampler()), OI)["3"]["inputs"]


def test_seed_toggle_of_a_never_run_2023_file_is_not_an_input() -> None:
    """Mar-Nov 2023 files saved before anything ran also have bare image outputs; their nodes'
    properties (``Node name for S&R``) or converted widget inputs date them after the first frontend."""
    named = {**ksampler(), "properties": {"Node name for S&R": "KSampler"}}
    out = to_api(wf(load_image(widgets_values=["a.png"]), save_image(58), named, links=LINK), OI)
    assert SEED_TOGGLE_NAME not in out["3"]["inputs"] and out["3"]["inputs"]["seed"] == 5
    converted = {**ksampler(), "inputs": [{"name": "steps", "type": "INT", "link": None, "widget": {"name": "steps"}}]}
    out = to_api(wf(load_image(widgets_values=["a.png"]), save_image(58), converted, links=LINK), OI)
    assert SEED_TOGGLE_NAME not in out["3"]["inputs"] and out["3"]["inputs"]["cfg"] == 8


@needs_corpus
def test_no_seed_toggle_outside_first_frontend_files_of_the_corpus() -> None:
    """Only the prompts the first frontend really made carry the toggle (their pairs say so)."""
    leaks = report().toggle_leaks
    assert leaks, "the first frontend's pairs still send the toggle"
    for name in leaks:
        prompt = CORPUS / "pairs" / name.replace(".workflow.json", ".prompt.json")
        assert prompt.is_file() and SEED_TOGGLE_NAME in prompt.read_text(encoding="utf-8"), name


@pytest.mark.parametrize("frontend", ["frontend-1.32.9", "frontend-1.58.1-on-0.3.75"])
def test_live_editor_graph_without_version_converts_as_its_frontend_did(frontend: str) -> None:
    """``serialize()`` writes no frontendVersion; its widget slots date it (every widget is one since 1.16)."""
    graph = json.loads((CAPTURES / frontend / "serialize_after_load.json").read_text(encoding="utf-8"))
    expected = json.loads((CAPTURES / frontend / "graphToPrompt_after_load.json").read_text(encoding="utf-8"))
    assert "frontendVersion" not in graph["extra"]
    era = Era.of(parse_workflow(graph), OI_0375)
    assert not era.drop_unlinked_converted and not era.legacy and era.upload_name is None
    assert to_api(graph, OI_0375) == expected["output"]


def widget_slot(name: str, kind: str = "INT", **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "widget": {"name": name}, "link": None, **kw}


KSAMPLER_SLOTS = [widget_slot("seed"), widget_slot("steps"), widget_slot("cfg", "FLOAT"),
                  widget_slot("sampler_name", "COMBO"), widget_slot("scheduler", "COMBO"), widget_slot("denoise", "FLOAT")]


def test_widget_slot_shape_also_drops_the_upload_button() -> None:
    shaped = {**ksampler(), "inputs": KSAMPLER_SLOTS}
    image = load_image(inputs=[widget_slot("image", "COMBO"), widget_slot("upload", "IMAGEUPLOAD")])
    out = to_api(wf(image, save_image(250), shaped, links=LINK, ds={"scale": 1, "offset": [0, 0]}), OI)
    assert out["1"]["inputs"] == {"image": "a.png"}
    assert out["3"]["inputs"]["steps"] == 20 and out["3"]["inputs"]["denoise"] == 1


def test_unconnected_converted_widget_of_older_frontends_is_left_out() -> None:
    """Before 1.16 a converted widget was sent only while connected (``hideWidget``)."""
    converted = {**ksampler(), "inputs": [widget_slot("steps")]}
    out = to_api(wf(load_image(), save_image(250), converted, links=LINK), OI)
    assert "steps" not in out["3"]["inputs"] and out["3"]["inputs"]["cfg"] == 8
    # a node with every widget converted, among nodes that list none, does not date the file
    assert "steps" not in to_api(wf(load_image(), save_image(250), {**ksampler(), "inputs": KSAMPLER_SLOTS},
                                    links=LINK), OI)["3"]["inputs"]
    # 2023 converted widgets carried their config: never the 1.16 shape
    dated = [{**s, "widget": {"name": s["name"], "config": ["INT", {}]}} for s in KSAMPLER_SLOTS]
    assert "steps" not in to_api(wf({**ksampler(), "inputs": dated}), OI)["3"]["inputs"]
    # one unconnected slot on the only node proves nothing
    assert "steps" not in to_api(wf({**ksampler(), "inputs": [widget_slot("steps")]}), OI)["3"]["inputs"]


def test_shape_needs_the_server_definitions_or_subgraphs() -> None:
    shaped = parse_workflow(wf({**ksampler(), "inputs": KSAMPLER_SLOTS}))
    assert Era.of(shaped).drop_unlinked_converted   # without definitions nothing says what the widgets are
    assert not Era.of(shaped, NodeDefs(OI)).drop_unlinked_converted
    sub = {"id": "a1b2", "name": "s", "nodes": [], "links": [], "inputs": [], "outputs": []}
    with_subgraph = parse_workflow({**wf(ksampler()), "definitions": {"subgraphs": [sub]}})
    assert not Era.of(with_subgraph).drop_unlinked_converted and not Era.of(with_subgraph).legacy
