"""A minimal torchvision stand-in for ComfyUI on CPU-only torch (not a real torchvision)."""
from __future__ import annotations

from . import models, transforms
from ._placeholder import Placeholder, lazy_getattr

__version__ = "0.0.0+stub"
__all__ = ["Placeholder", "__version__", "models", "transforms"]

__getattr__ = lazy_getattr("")
