"""Stub ``torchvision.transforms.functional`` with a real ``InterpolationMode`` (spandrel uses it)."""
from __future__ import annotations

import enum

from .._placeholder import lazy_getattr


class InterpolationMode(enum.Enum):
    """Same members and values as torchvision's enum."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


__getattr__ = lazy_getattr("transforms.functional")
