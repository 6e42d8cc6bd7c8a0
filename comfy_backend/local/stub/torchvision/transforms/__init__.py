"""Stub ``torchvision.transforms``: every name is a placeholder that fails when used."""
from __future__ import annotations

from .._placeholder import lazy_getattr
from . import functional

__all__ = ["functional"]
__getattr__ = lazy_getattr("transforms")
