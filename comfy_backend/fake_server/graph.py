"""Walking an API prompt: links, execution order, cache signatures and image facts."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .validation import node_sort_key

#: Input names followed first when tracing where an image comes from.
_IMAGE_INPUTS = ("image", "images", "pixels", "samples", "latent_image", "latent", "mask")


def is_link(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def links(node: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(input name, source node id, source output index) for each linked input."""
    for name, value in node.get("inputs", {}).items():
        if is_link(value):
            yield name, value[0], value[1]


def execution_plan(prompt: dict[str, Any], outputs: list[str], cached: set[str]) -> list[str]:
    """Nodes to visit, dependencies first, like ComfyUI's ExecutionList.

    Uncached nodes needed by the outputs are included; cached nodes are skipped
    (and not descended into) unless they are one of the requested outputs, which
    the real server stages anyway to re-send their cached UI output.
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        if node_id in cached:
            return
        for _, src, _ in links(prompt[node_id]):
            visit(src)
        order.append(node_id)

    for o in sorted(outputs, key=node_sort_key):
        if o in cached and o not in seen:
            seen.add(o)
            order.append(o)
        visit(o)
    return order


def signatures(prompt: dict[str, Any], changed_token: Callable[[str, dict[str, Any]], object]) -> dict[str, str]:
    """A cache key per node: class, widget values, upstream keys and an IS_CHANGED token.

    Like the real input-signature cache the node id is not part of the key, so an
    identical sub-graph in another prompt is reused.
    """
    sigs: dict[str, str] = {}

    def sig(node_id: str, depth: int = 0) -> str:
        if node_id in sigs:
            return sigs[node_id]
        if depth > 1000:
            raise RecursionError("cycle in prompt")
        node = prompt[node_id]
        parts: dict[str, object] = {}
        for name, value in node.get("inputs", {}).items():
            if is_link(value) and value[0] in prompt:
                parts[name] = ["link", sig(value[0], depth + 1), value[1]]
            else:
                parts[name] = value
        blob = json.dumps([node.get("class_type"), changed_token(node_id, node), parts],
                          sort_keys=True, default=str)
        sigs[node_id] = hashlib.sha1(blob.encode()).hexdigest()
        return sigs[node_id]

    for node_id in prompt:
        sig(node_id)
    return sigs


@dataclass(frozen=True)
class ImageFacts:
    """What a node's image output would look like: size, batch and a solid colour."""
    width: int = 512
    height: int = 512
    batch: int = 1
    color: int = 0


def _int(value: object, default: int) -> int:
    if not isinstance(value, (int, float, str)):  # JSON null, list or object
        return default
    try:
        return int(value)
    except ValueError:
        return default


def image_facts(prompt: dict[str, Any], node_id: str, memo: dict[str, ImageFacts] | None = None) -> ImageFacts:
    """Trace a node's image back to its source (EmptyImage, EmptyLatentImage, SolidMask, ...)."""
    memo = {} if memo is None else memo
    if node_id in memo:
        return memo[node_id]
    memo[node_id] = ImageFacts()  # guards against cycles
    node = prompt.get(node_id, {})
    cls = node.get("class_type")
    inp = node.get("inputs", {})
    upstream = {name: src for name, src, _ in links(node) if src in prompt}
    base = ImageFacts()
    for name in _IMAGE_INPUTS + tuple(upstream):
        if name in upstream:
            base = image_facts(prompt, upstream[name], memo)
            break
    w, h, b, c = base.width, base.height, base.batch, base.color
    if cls in ("EmptyImage", "EmptyLatentImage", "EmptySD3LatentImage"):
        w, h, b = _int(inp.get("width"), 512), _int(inp.get("height"), 512), _int(inp.get("batch_size"), 1)
        c = _int(inp.get("color"), 0) & 0xFFFFFF
    elif cls == "SolidMask":
        w, h, b = _int(inp.get("width"), 512), _int(inp.get("height"), 512), 1
        try:
            g = max(0, min(255, int(float(inp.get("value", 1.0)) * 255)))
        except (TypeError, ValueError):
            g = 255
        c = (g << 16) | (g << 8) | g
    elif cls in ("LoadImage", "LoadImageMask"):
        w, h, b, c = 64, 64, 1, 0x808080
    elif cls == "ImageInvert":
        c = c ^ 0xFFFFFF
    elif cls == "ImageScale":
        nw, nh = _int(inp.get("width"), 0), _int(inp.get("height"), 0)
        if nw and nh:
            w, h = nw, nh
        elif nw:
            w, h = nw, max(1, round(h * nw / max(w, 1)))
        elif nh:
            w, h = max(1, round(w * nh / max(h, 1))), nh
    elif cls == "ImageScaleBy":
        try:
            f = float(inp.get("scale_by", 1.0))
        except (TypeError, ValueError):
            f = 1.0
        w, h = max(1, round(w * f)), max(1, round(h * f))
    elif cls == "ImageUpscaleWithModel":
        w, h = w * 2, h * 2  # the tiny test model is x2
    memo[node_id] = ImageFacts(max(1, w), max(1, h), max(1, b), c)
    return memo[node_id]
