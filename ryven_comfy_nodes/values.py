"""Values that travel along connections: plain JSON-able dicts in plain ``Data``.

Plain dicts (not custom ``Data`` subclasses) keep projects readable and avoid
Ryven's custom-Data pitfalls (input defaults of custom types do not load back).

* files a workflow produced: ``{"comfy": "outputs", "kind": "image", "refs": [OutputRef dicts]}``
* a local image file: ``{"comfy": "file", "path": "/abs/path.png"}``
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from comfy_backend import OutputRef


def outputs_value(refs: list[OutputRef], kind: str) -> dict[str, Any]:
    return {"comfy": "outputs", "kind": kind, "refs": [r.to_dict() for r in refs]}


def file_value(path: str | Path) -> dict[str, Any]:
    return {"comfy": "file", "path": str(Path(path).expanduser().resolve())}


def refs_of(value: Any) -> list[OutputRef]:
    """The output references carried by a value (empty for anything else)."""
    if isinstance(value, dict) and value.get("comfy") == "outputs":
        return [OutputRef(**r) for r in value.get("refs", [])]
    return []


def is_image_source(value: Any) -> bool:
    """Whether ``value`` can feed an image input (produced files or a local file)."""
    return bool(refs_of(value)) or (isinstance(value, dict) and value.get("comfy") == "file")


def describe(value: Any) -> str:
    if isinstance(value, dict) and value.get("comfy") == "outputs":
        return f"{len(value.get('refs', []))} {value.get('kind', 'file')}(s)"
    if isinstance(value, dict) and value.get("comfy") == "file":
        return Path(value["path"]).name
    return repr(value)
