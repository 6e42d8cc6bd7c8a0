"""What each node does on the fake server: how long it takes, its progress ticks,
its UI output and the runtime errors the real node would raise."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .graph import image_facts

#: cost(prompt) -> seconds for the whole prompt (before dividing by speed).
PromptCost = Callable[[dict[str, Any]], float]
#: node_cost(node_id, prompt) -> seconds for one node (before dividing by speed).
NodeCost = Callable[[str, dict[str, Any]], float]

NODE_SECONDS = 0.005
#: ImageBlur: ~2 s for radius 31 on 1024x1024 (measured 1.6-2.7 s on CPU).
BLUR_SECONDS_PER_RADIUS_PIXEL = 2.0 / (31 * 1024 * 1024)
SAMPLER_SECONDS_PER_STEP = 0.02
UPSCALE_SECONDS_PER_TILE = 0.19
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
#: Nodes whose IS_CHANGED makes them run every time.
ALWAYS_CHANGED = {"SaveImageWebsocket"}


def upscale_tiles(width: int, height: int, batch: int = 1, tile: int = 512, overlap: int = 32) -> int:
    """`comfy.utils.get_tiled_scale_steps` for ImageUpscaleWithModel's first pass."""
    return batch * math.ceil(height / (tile - overlap)) * math.ceil(width / (tile - overlap))


def _steps_input(node: dict[str, Any]) -> int:
    try:
        return max(1, int(node.get("inputs", {}).get("steps", 20)))
    except (TypeError, ValueError):
        return 20


def default_node_cost(node_id: str, prompt: dict[str, Any]) -> float:
    """Seconds one node takes at speed 1: a small constant except for the known slow nodes."""
    node = prompt[node_id]
    cls = node.get("class_type")
    if cls == "ImageBlur":
        f = image_facts(prompt, node_id)
        try:
            radius = int(node["inputs"].get("blur_radius", 1))
        except (TypeError, ValueError):
            radius = 1
        return NODE_SECONDS + radius * f.width * f.height * f.batch * BLUR_SECONDS_PER_RADIUS_PIXEL
    if cls in SAMPLERS:
        return NODE_SECONDS + _steps_input(node) * SAMPLER_SECONDS_PER_STEP
    if cls == "ImageUpscaleWithModel":
        return NODE_SECONDS + progress_steps(node_id, prompt) * UPSCALE_SECONDS_PER_TILE
    if cls == "SaveImageWebsocket":
        return NODE_SECONDS + 0.001 * progress_steps(node_id, prompt)
    return NODE_SECONDS


def progress_steps(node_id: str, prompt: dict[str, Any]) -> int:
    """Number of ProgressBar ticks a node sends (0: no progress bar)."""
    node = prompt[node_id]
    cls = node.get("class_type")
    if cls in SAMPLERS:
        return _steps_input(node)
    if cls == "SaveImageWebsocket":
        src = node.get("inputs", {}).get("images")
        return image_facts(prompt, src[0]).batch if isinstance(src, list) else 1
    if cls == "ImageUpscaleWithModel":
        src = node.get("inputs", {}).get("image")
        f = image_facts(prompt, src[0]) if isinstance(src, list) else image_facts(prompt, node_id)
        return upscale_tiles(f.width, f.height, f.batch)
    return 0


def tick_value(class_type: str, k: int) -> int:
    """The `progress.value` of tick k (0-based): SaveImageWebsocket counts from 0, others from 1."""
    return k if class_type == "SaveImageWebsocket" else k + 1


@dataclass(frozen=True)
class NodeFailure:
    """A runtime exception a node raises: what ends up in `execution_error`."""
    exception_type: str
    exception_message: str
    traceback: tuple[str, ...] = ()


def builtin_failure(node_id: str, prompt: dict[str, Any]) -> NodeFailure | None:
    """Runtime errors the real nodes raise for these inputs."""
    node = prompt[node_id]
    cls = node.get("class_type")
    inp = node.get("inputs", {})
    if cls == "ImageToMask" and inp.get("channel") == "alpha":
        # IMAGE tensors have 3 channels: channels.index("alpha") == 3 is out of bounds.
        return NodeFailure("IndexError", "index 3 is out of bounds for dimension 3 with size 3", (
            '  File "<fake-comfyui>/comfy_extras/nodes_mask.py", line 137, in image_to_mask\n'
            '    mask = image[:, :, :, channels.index(channel)]\n',))
    if cls == "SaveImage":
        prefix = str(inp.get("filename_prefix", ""))
        parts = prefix.replace("\\", "/").split("/")
        if prefix.startswith("/") or ".." in parts:
            return NodeFailure("Exception",
                               "**** ERROR: Saving image outside the output folder is not allowed.")
    return None


def output_kind(class_type: str) -> str | None:
    """'output' for SaveImage, 'temp' for PreviewImage-like nodes, None for no UI images."""
    if class_type == "SaveImage":
        return "output"
    if class_type in ("PreviewImage", "MaskPreview"):
        return "temp"
    return None
