"""What older frontends sent along, decided from what their code left in the file (see era.py)."""
from __future__ import annotations

import json
from typing import Any

from comfy_backend.workflow import to_api
from comfy_backend.workflow.era import SEED_TOGGLE_NAME, UPLOAD_2023, UPLOAD_LEGACY, Era
from comfy_backend.workflow.graph import parse_workflow

from .corpus import CORPUS, FIXTURES, needs_corpus
from .suggestion_report import report

OI = json.loads((FIXTURES / "mini_object_info.json").read_text())


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
    for hint in ({"ds": {"scale": 1, "offset": [0, 0]}}, {"groupNodes": {}}):
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
