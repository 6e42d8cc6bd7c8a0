"""Fast checks without Qt pages or servers: the version rule and the CLI's --frontend plumbing."""
from __future__ import annotations

from pathlib import Path

import pytest

from comfy_backend.cli import workflow_store
from comfy_backend.cli.main import main
from editor_bridge.version import TESTED_RANGE, check_version, parse_version
from tests.editor_bridge.conftest import SAMPLE


def test_versions_inside_the_tested_range_carry_no_warning() -> None:
    assert TESTED_RANGE == ("1.32.9", "1.58.1")
    for v in ("1.32.9", "1.40.0", "1.58.1"):
        assert check_version("http://x", v).tested
    assert parse_version("v1.2.3-rc1") == (1, 2, 3)


@pytest.mark.parametrize(("version", "word"), [("1.20.0", "older"), ("1.60.2", "newer"), (None, "does not report")])
def test_versions_outside_the_range_are_warned_about(version: str | None, word: str) -> None:
    info = check_version("http://x", version)
    assert not info.tested and word in (info.warning or "")


def test_to_api_frontend_without_the_bridge_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(workflow_store, "entry_points", lambda group: [])
    assert main(["workflow", "to-api", str(SAMPLE), "--frontend", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "needs the editor bridge" in err[0]


def test_to_api_frontend_refuses_mixed_options_and_api_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflow", "to-api", str(SAMPLE), "--frontend", "http://h:1", "--object-info", str(SAMPLE)]) == 2
    api = tmp_path / "api.json"
    api.write_text('{"1": {"class_type": "EmptyImage", "inputs": {}}}')
    assert main(["workflow", "to-api", str(api), "--frontend", "http://h:1"]) == 2
    assert main(["workflow", "push", str(api), "--server", "http://h:1"]) == 2
    assert main(["workflow", "pull", "..", "--server", "http://h:1"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 4


def test_store_names() -> None:
    assert workflow_store.store_name(" my flow.json ") == "my flow"
    assert workflow_store.store_name("a/b") == "a/b"
    for bad in ("", "../x", "a//b", ".hidden", "a\\\\b"):
        with pytest.raises(Exception, match="unusable workflow name"):
            workflow_store.store_name(bad)
