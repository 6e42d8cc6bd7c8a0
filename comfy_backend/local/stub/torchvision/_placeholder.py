"""Placeholder objects of the torchvision stub (see ``comfy_backend.local.provision``).

ComfyUI 0.3.75 imports torchvision at startup, but PyPI torchvision cannot load beside
CPU-only torch. Importing names must succeed; *using* them must fail loudly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn


class Placeholder:
    """Stands in for a torchvision symbol; any use raises ImportError naming it."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_stub_name", name)

    def _fail(self) -> NoReturn:
        raise ImportError(
            f"torchvision.{object.__getattribute__(self, '_stub_name')} is not available: "
            "this ComfyUI runs with a torchvision stub (model-free workflows only)"
        )

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        self._fail()

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._fail()

    def __repr__(self) -> str:
        return f"<torchvision stub placeholder {object.__getattribute__(self, '_stub_name')}>"


def lazy_getattr(module: str) -> Callable[[str], Any]:
    """Build a module-level ``__getattr__`` that returns a placeholder for any public name."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return Placeholder(f"{module}.{name}" if module else name)

    return __getattr__
