"""A minimal torchvision stand-in for ComfyUI on CPU-only torch (not a real torchvision)."""
from __future__ import annotations

from ._placeholder import Placeholder, lazy_getattr
from . import models, transforms  # noqa: F401  (ComfyUI imports these submodules)

__version__ = "0.0.0+stub"
__all__ = ["Placeholder", "models", "transforms", "__version__"]

__getattr__ = lazy_getattr("")
