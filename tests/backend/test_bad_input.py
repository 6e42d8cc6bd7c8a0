"""Bad input gets one line on stderr, the right exit code and no traceback (issue 8, items 8, 12)."""
from __future__ import annotations

import errno
import json
import os
import struct
import time
import zlib
from pathlib import Path

import pytest

from comfy_backend.cli.main import main
from comfy_backend.errors import OutputWriteError
from comfy_backend.models import OutputRef
from comfy_backend.outputs import clean_stale_parts, save_output


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1:99999", "port"),
    ("http://127.0.0.1:abc", "port"),
    ("http://[::1", "malformed"),
    ("http://ann:pw@127.0.0.1:8188", "password_env"),
])
def test_bad_urls_are_refused_when_the_config_is_read(tmp_path, capsys, url, words):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps({"servers": [{"id": "a", "url": url}]}))
    assert main(["servers", "status", "--servers", str(cfg)]) == 2
    assert words in one_error_line(capsys)


def test_unset_token_and_missing_ca_file_are_config_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps({"servers": [{"id": "a", "url": "http://127.0.0.1:1",
                                            "auth": {"kind": "bearer", "token_env": "NOPE_TOKEN"}}]}))
    assert main(["servers", "status", "--servers", str(cfg)]) == 2
    assert "NOPE_TOKEN is not set" in one_error_line(capsys)
    cfg.write_text(json.dumps({"servers": [{"id": "a", "url": "https://127.0.0.1:1", "ca_file": str(tmp_path / "no.pem")}]}))
    assert main(["servers", "status", "--servers", str(cfg)]) == 2
    assert "CA file" in one_error_line(capsys)


def test_server_url_with_bad_port_for_params(tmp_path, capsys):
    wf = tmp_path / "w.json"
    wf.write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {}}}))
    assert main(["workflow", "params", str(wf), "--server", "http://127.0.0.1:99999"]) == 2
    assert "port" in one_error_line(capsys)
    assert main(["workflow", "params", str(wf), "--server", "nope"]) == 2
    one_error_line(capsys)


def test_huge_integers_in_a_workflow(tmp_path, capsys):
    wf = tmp_path / "w.json"
    wf.write_text('{"1": {"class_type": "EmptyImage", "inputs": {"width": ' + "9" * 100_000 + "}}}")
    assert main(["workflow", "validate", str(wf)]) == 2
    assert "unusable JSON" in one_error_line(capsys)


def test_too_many_nodes_is_refused_before_validation(tmp_path, capsys):
    wf = tmp_path / "w.json"
    wf.write_text(json.dumps({str(i): {"class_type": "X", "inputs": {}} for i in range(100_001)}))
    assert main(["workflow", "validate", str(wf)]) == 2
    assert "limit of 100,000 nodes" in one_error_line(capsys)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_png_text_chunk_that_inflates_too_far(tmp_path, capsys):
    bomb = zlib.compress(b" " * (80 * 2**20), 9)  # 80 MB of text in ~80 KB
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + _chunk(b"zTXt", b"workflow\0\0" + bomb) + _chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(png)
    assert main(["workflow", "validate", str(tmp_path / "bomb.png")]) == 2
    assert "inflates to more than 64 MB" in one_error_line(capsys)


# -- item 8: file names from servers, full disks, stale parts --------------------------
def ref(filename: str, subfolder: str = "") -> OutputRef:
    return OutputRef("s1", "9", filename, subfolder, "output")


def test_very_long_names_are_shortened_keeping_the_extension(tmp_path):
    p1 = save_output(b"a", ref("é" * 300 + ".png", "d" * 300), tmp_path)
    p2 = save_output(b"b", ref("é" * 300 + ".png", "d" * 300), tmp_path)
    assert p1.suffix == ".png" and len(p1.name.encode()) <= 255 and p1.read_bytes() == b"a"
    assert p2 != p1 and p2.read_bytes() == b"b" and p2.suffix == ".png"


def test_file_and_folder_clashes_are_renamed(tmp_path):
    save_output(b"file", ref("x"), tmp_path)                 # a file named x …
    p = save_output(b"inside", ref("y.png", "x"), tmp_path)  # … where a folder x is wanted
    assert p.parent.name == "x_1" and p.read_bytes() == b"inside"
    (tmp_path / "z.png").mkdir()                             # a folder where a file is wanted
    q = save_output(b"z", ref("z.png"), tmp_path)
    assert q.name == "z_1.png" and q.read_bytes() == b"z"


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OutputWriteError, match="the disk is full"):
        save_output(b"data", ref("a.png"), tmp_path)
    monkeypatch.setattr(os, "write", real_write)
    assert list(tmp_path.iterdir()) == []


def test_stale_part_files_are_cleaned_on_the_next_save(tmp_path):
    dead = tmp_path / ".part-999999999-abc"   # a pid that cannot exist
    alive = tmp_path / f".part-{os.getpid()}-def"
    legacy = tmp_path / ".part-k3j4h5"        # the old mkstemp name
    for p in (dead, alive, legacy):
        p.write_bytes(b"half")
    os.utime(legacy, (time.time() - 3600, time.time() - 3600))
    assert clean_stale_parts(tmp_path) == 2
    assert alive.exists() and not dead.exists() and not legacy.exists()
    dead.write_bytes(b"half")
    save_output(b"x", ref("new.png"), Path(tmp_path) / "other")  # another folder: cleaned on its first save
    save_output(b"x", ref("new.png"), tmp_path)
    assert not dead.exists()


def test_unknown_server_id_is_bad_input(tmp_path, capsys):
    wf = tmp_path / "w.json"
    wf.write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {}}}))
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps({"servers": [{"id": "a", "url": "http://127.0.0.1:1"}]}))
    assert main(["workflow", "run", str(wf), "--servers", str(cfg), "--server", "nope"]) == 2
    assert "no server with that id" in one_error_line(capsys)
