"""Both project formats read their file through one helper: the same errors for a missing or broken file."""
from __future__ import annotations

import pytest

from comfy_backend.errors import WorkflowError


@pytest.mark.parametrize("reader", ["orchestrator", "ryven"])
def test_missing_broken_and_unreadable_project_files(reader, tmp_path):
    from ryven_comfy_nodes.project_format import load_orchestrator
    from ryven_comfy_nodes.project_ryven import read_project

    read = load_orchestrator if reader == "orchestrator" else read_project
    with pytest.raises(WorkflowError, match="project file not found"):
        read(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{ nope")
    with pytest.raises(WorkflowError, match="not a JSON project"):
        read(broken)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(WorkflowError, match="not a JSON project"):
        read(latin)
    with pytest.raises(WorkflowError, match="cannot read the project"):
        read(tmp_path)  # a directory


def test_each_format_still_checks_its_own_shape(tmp_path):
    from ryven_comfy_nodes.project_format import load_orchestrator
    from ryven_comfy_nodes.project_ryven import read_project

    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(WorkflowError, match="not a Ryven project"):
        read_project(other)
    other.write_text('{"format": "something else", "flows": {}}')
    with pytest.raises(WorkflowError, match=r"other\.json: not a ryven-comfy project"):
        load_orchestrator(other)


def test_a_json_object_without_our_format_is_refused(tmp_path):
    from ryven_comfy_nodes.project_format import load_orchestrator

    p = tmp_path / "x.orchestrator.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(WorkflowError, match="not a ryven-comfy project"):
        load_orchestrator(p)
