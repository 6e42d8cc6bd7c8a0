"""Headless commands against real servers: the workflow store round trip, and ``to-api --frontend``
compared with our own converter (``to-api --server``) on the shared corpus."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from comfy_backend.cli.main import main
from comfy_backend.workflow import ConvertOptions, to_api
from comfy_backend.workflow.era import Era
from editor_bridge import EditorPage, MissingNodeTypes, pull, push, wait
from tests.editor_bridge.conftest import SAMPLE
from tests.workflow.corpus import differences, load_pair, needs_corpus, pair_names

pytestmark = pytest.mark.real
W = 60
#: corpus workflows where today's frontend and our converter (by today's rules) differ, and why
KNOWN_DIFFERENCES = {
    **dict.fromkeys((
        "comfyui_examples__2_pass_txt2img__latent_upscale_different_prompt_model_2__hist_531445a5__png",
        "comfyui_examples__2_pass_txt2img__latent_upscale_different_prompt_model__hist_ff842d92__png",
        "comfyui_examples__area_composition__square_area_for_subject__hist_c1f6b45b__png"),
        "the frontend renames legacy sampler names (sample_dpmpp_2m → dpmpp_2m) when it loads a file"),
    **dict.fromkeys((
        "comfyui_examples__edit_models__sdxl_edit_model__png",
        "comfyui_examples__stable_cascade__stable_cascade__inpaint_controlnet__png"),
        "legacy group nodes: the frontend turns them into subgraphs with its own inner ids"),
}


def test_push_and_pull_through_the_workflow_store(newer_frontend_server: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    name = f"ryven-comfy-tests/{uuid.uuid4().hex[:8]}"
    assert main(["workflow", "push", str(SAMPLE), "--server", newer_frontend_server, "--name", name]) == 0
    assert capsys.readouterr().out.strip() == f"workflows/{name}.json"
    out = tmp_path / "pulled.json"
    assert main(["workflow", "pull", name, "--server", newer_frontend_server, "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(SAMPLE.read_text())
    capsys.readouterr()
    # a taken name with --no-overwrite, an unknown name, a bad name: bad input (2); no server: 1
    assert main(["workflow", "push", str(SAMPLE), "--server", newer_frontend_server, "--name", name,
                 "--no-overwrite"]) == 2
    assert main(["workflow", "pull", "no-such-" + name, "--server", newer_frontend_server]) == 2
    assert main(["workflow", "pull", "../etc", "--server", newer_frontend_server]) == 2
    assert main(["workflow", "pull", name, "--server", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)


def test_to_api_frontend_prints_the_same_shape_as_to_api_server(real_server: str, qapp: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflow", "to-api", str(SAMPLE), "--frontend", real_server]) == 0
    by_frontend = json.loads(capsys.readouterr().out)
    assert main(["workflow", "to-api", str(SAMPLE), "--server", real_server]) == 0
    by_server = json.loads(capsys.readouterr().out)
    assert set(by_frontend) == set(by_server)
    assert all(set(by_frontend[k]) == set(by_server[k]) == {"inputs", "class_type", "_meta"} for k in by_server)
    assert by_frontend["1"]["inputs"] == {"width": 256, "height": 192, "batch_size": 1, "color": 16711680}
    assert main(["workflow", "to-api", str(SAMPLE), "--frontend", "not a url"]) == 2


def _defs(url: str) -> Any:
    from comfy_backend.cli.workflow_inspect import read_object_info
    from comfy_backend.workflow import NodeDefs

    class A:
        object_info = None
        server = url
    return NodeDefs.of(read_object_info(A()))  # type: ignore[arg-type]


@needs_corpus
def test_the_frontend_converts_the_corpus_as_we_do(page: EditorPage, request: pytest.FixtureRequest) -> None:
    info = wait(page.call("objectInfo"), W)
    from comfy_backend.workflow import NodeDefs
    defs = NodeDefs.of(info)
    eligible, lacking, same, differ, same_as_file_era = 0, 0, 0, [], 0
    for name in pair_names():
        wf, prompt = load_pair(name)
        if not {n.get("class_type") for n in prompt.values() if isinstance(n, dict)} <= set(info):
            continue
        eligible += 1
        try:
            wait(push(page, wf, name="corpus"), W)
        except MissingNodeTypes:
            lacking += 1   # frontend-side types (e.g. a custom widget node) the prompt does not show
            continue
        theirs = wait(pull(page), W).prompt
        # today's frontend converts by today's rules; to-api --server follows the era that saved
        # the file (companion widgets older frontends sent): compare like with like, count both
        ours = to_api(wf, info, ConvertOptions(era=Era.current()))
        same_as_file_era += not differences(wf, theirs, to_api(wf, info), defs)
        diff = differences(wf, theirs, ours, defs)
        if diff and name not in KNOWN_DIFFERENCES:
            differ.append(f"{name}: {diff[:3]}")
        if not diff:
            same += 1
    rate = (f"{same}/{eligible - lacking} equal to our conversion by today's rules, {same_as_file_era} equal to "
            f"to-api --server (the file's era) ({lacking} skipped: node types the frontend lacks)")
    print(f"\nto-api --frontend vs --server, frontend {page.info.version if page.info else '?'}: {rate}")
    request.node.user_properties.append(("rate", rate))
    assert eligible > 0
    assert not differ, f"{rate}; differing:\n" + "\n".join(differ)
