"""A newer ComfyUI web frontend for the local servers, provisioned once into the user cache.

ComfyUI 0.3.75 pins ``comfyui-frontend-package==1.32.9``; users run newer ones. To test the
editor bridge against a newer frontend, its wheel is downloaded once (``pip download
--no-deps``) and its built static files (``comfyui_frontend_package/static``) are unpacked
under the cache root. A server serves them with ``--front-end-root DIR``
(``start_local_servers(..., extra_args=frontend_args(dir))``).

Layout under the cache root::

    comfyui-frontend-1.58.1/static/   index.html, assets/…  (renamed into place when complete)
    comfyui-frontend-1.58.1.lock      file lock serialising provisioners
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from comfy_backend.errors import ProvisionError

from .provision import default_cache_root

log = logging.getLogger(__name__)

#: The newest frontend tested (PyPI ``comfyui-frontend-package``); 0.3.75 ships 1.32.9.
NEWER_FRONTEND_VERSION = "1.58.1"
_PACKAGE = "comfyui-frontend-package"
_STATIC_PREFIX = "comfyui_frontend_package/static/"


def frontend_dir(version: str = NEWER_FRONTEND_VERSION, cache_dir: Path | None = None) -> Path:
    """Where the static files of ``version`` live once provisioned (``…/static``)."""
    return Path(cache_dir or default_cache_root()) / f"comfyui-frontend-{version}" / "static"


def frontend_args(static_dir: Path) -> list[str]:
    """The ComfyUI command-line arguments that serve the frontend in ``static_dir``."""
    return ["--front-end-root", str(static_dir)]


def ensure_frontend(version: str = NEWER_FRONTEND_VERSION, cache_dir: Path | None = None,
                    progress: Callable[[str], None] | None = None) -> Path:
    """The static directory of frontend ``version``, downloaded and unpacked on first use.

    Idempotent and safe across processes (a file lock; the directory is renamed into
    place only when complete). Raises ProvisionError when pip cannot fetch the wheel.
    """
    say = progress or (lambda msg: log.info("%s", msg))
    static = frontend_dir(version, cache_dir)
    if (static / "index.html").is_file():
        return static
    root = static.parent
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if (static / "index.html").is_file():
            return static
        say(f"downloading ComfyUI frontend {version} ({_PACKAGE} from the package index)")
        with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".frontend-{version}-") as tmp:
            work = Path(tmp)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "-d", str(work / "dl"), f"{_PACKAGE}=={version}"]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wheels = sorted((work / "dl").glob("*.whl"))
            if done.returncode != 0 or not wheels:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
                raise ProvisionError(f"could not download {_PACKAGE}=={version}: {tail[0]}")
            unpacked = work / "unpacked"
            with zipfile.ZipFile(wheels[0]) as zf:
                members = [m for m in zf.namelist() if m.startswith(_STATIC_PREFIX) and not m.endswith("/")]
                if not any(m == _STATIC_PREFIX + "index.html" for m in members):
                    raise ProvisionError(f"{wheels[0].name} holds no {_STATIC_PREFIX}index.html")
                for m in members:
                    target = unpacked / m[len(_STATIC_PREFIX):]
                    # the wheel is trusted, but a member never lands outside the target
                    if unpacked.resolve() not in target.resolve().parents:
                        raise ProvisionError(f"{wheels[0].name}: member {m!r} escapes the static folder")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            if root.exists():
                shutil.rmtree(root)  # an incomplete leftover (no index.html)
            root.mkdir()
            unpacked.rename(static)
        say(f"ComfyUI frontend {version} ready at {static}")
    return static


__all__ = ["NEWER_FRONTEND_VERSION", "ensure_frontend", "frontend_args", "frontend_dir"]
