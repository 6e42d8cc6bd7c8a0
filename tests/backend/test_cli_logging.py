"""The CLI's console log handler follows ``sys.stderr``: a ``main()`` run in-process (as the tests do,
under pytest's captured stderr) leaves no handler bound to a stream that is closed afterwards, so a
later record (a backend thread's) logs normally instead of "Logging error … I/O operation on closed file"."""
from __future__ import annotations

import io
import logging
import sys

import pytest

from comfy_backend.cli.main import StderrHandler, main


@pytest.fixture()
def fresh_root(monkeypatch, tmp_path):
    """A root logger without the handlers earlier in-process CLI runs added (so main() adds its own),
    log files in a temporary folder; main()'s handlers are closed afterwards."""
    root = logging.getLogger()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if not getattr(h, "_ryven_comfy", False)])
    monkeypatch.setattr(root, "level", root.level)
    yield root
    for h in root.handlers:
        if getattr(h, "_ryven_comfy", False):
            h.close()


def test_after_an_in_process_main_no_root_handler_writes_to_a_closed_stream(fresh_root, monkeypatch, tmp_path):
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    assert main(["servers", "status", "--servers", str(tmp_path / "missing.yaml")]) == 2
    assert "error:" in captured.getvalue()  # the CLI's own output is unchanged
    ours = [h for h in fresh_root.handlers if getattr(h, "_ryven_comfy", False)]
    assert any(isinstance(h, StderrHandler) for h in ours)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)  # the capture ends ...
    captured.close()  # ... and its stream is closed, as pytest's is
    for h in fresh_root.handlers:
        stream = getattr(h, "stream", None)
        assert stream is None or not stream.closed, h


def test_the_console_handler_writes_to_the_stderr_of_the_moment(fresh_root, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    main(["servers", "status", "--servers", str(tmp_path / "missing.yaml")])
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("comfy_backend.test").warning("a record from a backend thread")
    assert "WARNING comfy_backend.test: a record from a backend thread" in later.getvalue()
