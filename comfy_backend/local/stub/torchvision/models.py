"""Stub ``torchvision.models``: every name is a placeholder that fails when used."""
from __future__ import annotations

from ._placeholder import lazy_getattr

__getattr__ = lazy_getattr("models")
