"""Every file of the shared corpus loads (or fails with its expected message) and converts or is refused clearly."""
from __future__ import annotations

import json

import pytest

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import ConvertOptions, load_workflow, to_api

from .corpus import CORPUS, needs_corpus, object_infos

FILES = sorted(p for d in ("ui", "api", "pairs") for p in (CORPUS / d).glob("*.json")) if CORPUS.is_dir() else []
#: corpus files expected to fail, with the message they must give (none today: all load)
EXPECTED_FAILURES: dict[str, str] = {}


@needs_corpus
def test_every_corpus_file_loads() -> None:
    problems = []
    kinds = {"ui": 0, "api": 0}
    for path in FILES:
        try:
            wf = load_workflow(path)
        except WorkflowError as exc:
            if path.name not in EXPECTED_FAILURES or EXPECTED_FAILURES[path.name] not in str(exc):
                problems.append(f"{path.name}: {exc}")
            continue
        kinds[wf.kind] += 1
        assert wf.kind == ("api" if path.parent.name == "api" or path.name.endswith(".prompt.json") else "ui"), path.name
    assert not problems, problems[:10]
    assert kinds["ui"] > 1000 and kinds["api"] > 300


@needs_corpus
def test_every_ui_file_converts_or_is_refused_clearly() -> None:
    defs = object_infos()["object_info_full.json"]
    refused = 0
    for path in FILES:
        if path.parent.name == "api" or path.name.endswith(".prompt.json"):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        try:
            prompt = to_api(data, defs, ConvertOptions(unknown_nodes="keep"))
        except WorkflowError as exc:
            # a group node whose definition is not in the file (the frontend could not load it either)
            assert "has no definition in extra.groupNodes" in str(exc), f"{path.name}: {exc}"
            refused += 1
            continue
        for nid, node in prompt.items():
            for name, v in node["inputs"].items():
                if isinstance(v, list):  # every remaining link points at a node of the prompt
                    assert v[0] in prompt, f"{path.name}: {nid}.{name} -> {v}"
    assert refused < 5


@needs_corpus
def test_unknown_node_types_are_listed() -> None:
    path = CORPUS / "pairs" / "rgthree__docs__rgthree_context_metadata__png.workflow.json"
    with pytest.raises(WorkflowError, match=r"node types not known to the server: nodes\["):
        to_api(json.loads(path.read_text(encoding="utf-8")), object_infos()["object_info_full.json"])
