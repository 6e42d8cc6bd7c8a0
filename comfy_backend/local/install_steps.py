"""The install's plumbing: run commands into one log file, install packages with uv or pip.

Used by ``provision`` (Qt-free, no state of its own).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from comfy_backend.errors import ProvisionError

log = logging.getLogger(__name__)

#: set to 1 to install with pip even when uv is found (comparisons, a broken uv)
NO_UV_ENV = "RYVEN_COMFY_NO_UV"

#: set to 1 to install with pip even when uv is found (comparisons, a broken uv)

def find_uv() -> Path | None:
    """The ``uv`` executable to install packages with: next to this Python (the project venv, where
    ``scripts/bootstrap.sh`` puts it), else on PATH; None when there is none or ``$RYVEN_COMFY_NO_UV``."""
    if os.environ.get(NO_UV_ENV, "") not in ("", "0"):
        return None
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("uv")
    return Path(found) if found else None


class Installer:
    """Installs packages into the ComfyUI venv with uv when found (falling back to pip for a step
    uv fails), else with pip; same arguments either way (``-c``, ``--no-deps``, requirements)."""

    def __init__(self, runner: Runner, py: Path, pip: list[str], say: Callable[[str], None]) -> None:
        self.runner, self.pip, self.say = runner, pip, say
        uv = find_uv()
        self.uv = [str(uv), "pip", "install", "--python", str(py), "--no-progress"] if uv else None
        self.tool = "uv" if uv else "pip"

    def run(self, args: list[str], what: str) -> None:
        if self.uv is None:
            self.runner.run([*self.pip, *args], what)
            return
        try:
            # uv reads no pip configuration: the same pins, from the package index
            self.runner.run([*self.uv, *args], f"{what} (uv)")
        except ProvisionError as exc:
            self.say(f"uv failed ({exc}); retrying with pip")
            log.warning("uv failed, retrying with pip: %s", exc)
            self.runner.run([*self.pip, *args], what)


class Runner:
    """Runs install steps, appending all their output to one log file."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path

    def _start(self, fh: TextIO, cmd: list[str]) -> int:
        """Log the command line; return where its output starts in the log."""
        offset = self.log_path.stat().st_size
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        return offset

    def _fail(self, what: str, rc: int, offset: int) -> ProvisionError:
        reason = telling_line(self.log_path, offset)
        hint = f": {reason}" if reason else ""
        return ProvisionError(f"could not {what} for the local ComfyUI (exit code {rc}){hint}; "
                              f"full log: {self.log_path}")

    def run(self, cmd: list[str], what: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> None:
        """Run ``cmd``; raise ProvisionError naming ``what`` and the log if it fails."""
        with open(self.log_path, "a", encoding="utf-8") as fh:
            offset = self._start(fh, cmd)
            try:
                rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=cwd).returncode
            except OSError as exc:
                raise ProvisionError(f"could not {what} for the local ComfyUI: {exc}; "
                                     f"full log: {self.log_path}") from exc
        if rc != 0:
            raise self._fail(what, rc, offset)

    def output(self, cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
        """Run ``cmd`` (with ``env``) and return its stdout (stderr goes to the log)."""
        with open(self.log_path, "a", encoding="utf-8") as fh:
            offset = self._start(fh, cmd)
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, stdin=subprocess.DEVNULL,
                                  text=True, env=env)
            fh.write(proc.stdout)
        if proc.returncode != 0:
            raise self._fail(what, proc.returncode, offset)
        return proc.stdout


def telling_line(log_path: Path, offset: int) -> str:
    """The most telling line of one command's output in the log: pip's first ``ERROR:``
    line, else the last line naming an error (a traceback's end), else the last line."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            fh.seek(offset)
            lines = [ln.strip() for ln in fh.read().splitlines()[1:] if ln.strip()]
    except OSError:
        return ""
    first_pip_error = next((ln for ln in lines if ln.startswith("ERROR:")), None)
    if first_pip_error:
        return first_pip_error[:200]
    named = [ln for ln in lines if "Error" in ln]
    return (named[-1] if named else lines[-1] if lines else "")[:200]


def fix_script_shebangs(bin_dir: Path, old: Path, new: Path) -> None:
    """Point ``venv/bin`` console scripts at the venv's final location after the rename."""
    old_line, new_line = f"#!{old}/bin/".encode(), f"#!{new}/bin/".encode()
    for script in bin_dir.iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with open(script, "rb") as fh:
            head = fh.read(len(old_line))
        if head == old_line:
            data = script.read_bytes().replace(old_line, new_line, 1)
            tmp = script.with_name(f".{script.name}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(script.stat().st_mode)
            os.replace(tmp, script)
