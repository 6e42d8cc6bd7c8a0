import pytest

from comfy_backend.errors import OutputPathError
from comfy_backend.models import OutputRef, outputs_from_history
from comfy_backend.outputs import safe_relative_path, save_output


def ref(filename, subfolder=""):
    return OutputRef("s1", "9", filename, subfolder, "output")


@pytest.mark.parametrize("sub, name, expected", [
    ("", "a.png", "a.png"),
    ("demo", "invert_00001_.png", "demo/invert_00001_.png"),
    ("../../etc", "passwd", "etc/passwd"),
    ("/abs/dir", "x.png", "abs/dir/x.png"),
    ("a\\..\\..\\b", "..\\..\\evil.png", "a/b/evil.png"),
    ("", "/etc/shadow", "shadow"),
    ("C:\\Windows", "x.png", "C_/Windows/x.png"),
])
def test_safe_relative_path(sub, name, expected):
    assert safe_relative_path(sub, name).as_posix() == expected


@pytest.mark.parametrize("name", ["", "..", ".", "/"])
def test_unusable_names(name):
    with pytest.raises(OutputPathError):
        safe_relative_path("", name)


def test_save_is_atomic_and_never_overwrites(tmp_path):
    out = tmp_path / "out"
    p1 = save_output(b"one", ref("x.png", "demo"), out)
    p2 = save_output(b"two", ref("x.png", "demo"), out)
    p3 = save_output(b"evil", ref("../../../x.png", "../.."), out)
    assert p1.read_bytes() == b"one" and p2.read_bytes() == b"two"
    assert p2.name == "x_1.png"
    assert out in p3.parents
    assert not any(p.name.startswith(".part-") for p in out.rglob("*"))
    assert not (tmp_path / "x.png").exists()


def test_outputs_from_history_collects_every_file_list():
    outputs = {
        "9": {"images": [{"filename": "a.png", "subfolder": "s", "type": "output"}]},
        "12": {"gifs": [{"filename": "v.mp4", "subfolder": "", "type": "output", "format": "video/h264-mp4"}],
               "text": ["not a file"]},
    }
    refs = outputs_from_history("pc1", outputs)
    assert [(r.node_id, r.filename, r.kind.value) for r in refs] == [("9", "a.png", "image"), ("12", "v.mp4", "video")]
