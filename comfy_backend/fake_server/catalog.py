"""Node catalog of the fake server: the `/object_info` data and lookups on it.

The default catalog is the real ComfyUI 0.3.75 `/object_info` dump shipped as
package data (`object_info.json`, 398 classes). It is parsed once per process
and shared read-only by every fake server; per-server changes (model lists,
uploaded input files) are applied as patched copies of the few affected classes.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

#: The 21 model folders a 0.3.75 server lists at `GET /models`.
MODEL_FOLDERS: tuple[str, ...] = (
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models",
    "clip_vision", "style_models", "embeddings", "diffusers", "vae_approx", "controlnet",
    "gligen", "upscale_models", "latent_upscale_models", "custom_nodes", "hypernetworks",
    "photomaker", "classifiers", "model_patches", "audio_encoders",
)

#: Loader combos whose options come from a model folder: (class, input) -> folder.
LOADER_FOLDERS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("CheckpointLoader", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("VAELoader", "vae_name"): "vae",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
}

#: Combos listing the files of the input folder.
INPUT_FILE_COMBOS: dict[str, str] = {"LoadImage": "image", "LoadImageMask": "image"}


@lru_cache(maxsize=1)
def default_object_info() -> dict[str, Any]:
    """The shipped 0.3.75 `/object_info`, parsed once per process (treat as read-only)."""
    text = resources.files(__package__).joinpath("object_info.json").read_text("utf-8")
    info: dict[str, Any] = json.loads(text)
    return info


def _with_options(spec: list[Any], options: list[Any]) -> list[Any]:
    extra = copy.deepcopy(spec[1]) if len(spec) > 1 else {}
    if spec[0] == "COMBO":
        extra["options"] = list(options)
        return ["COMBO", extra]
    return [list(options), extra] if len(spec) > 1 else [list(options)]


class Catalog:
    """One server's view of the node classes, with its models and input files applied."""

    def __init__(self, object_info: dict[str, Any] | None = None) -> None:
        self._base = object_info if object_info is not None else default_object_info()
        self._models: dict[str, list[str]] = {}
        self._input_files: list[str] = []
        self._patched: dict[str, dict[str, Any]] = {}
        self._serialized: bytes | None = None

    # ----- configuration -------------------------------------------------
    def set_models(self, models: dict[str, list[str]]) -> None:
        self._models = {k: list(v) for k, v in models.items()}
        self._invalidate()

    def set_input_files(self, names: Iterable[str]) -> None:
        names = sorted(names)
        if names != self._input_files:
            self._input_files = names
            self._invalidate()

    def _invalidate(self) -> None:
        self._patched.clear()
        self._serialized = None

    # ----- lookups --------------------------------------------------------
    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and class_type in self._base

    def info(self, class_type: str) -> dict[str, Any]:
        """The (patched) `/object_info` entry of a class; KeyError if unknown."""
        if class_type in self._patched:
            return self._patched[class_type]
        base: dict[str, Any] = self._base[class_type]
        patch: dict[str, list[Any]] = {}
        for (cls, name), folder in LOADER_FOLDERS.items():
            if cls == class_type and folder in self._models:
                patch[name] = self._models[folder]
        if INPUT_FILE_COMBOS.get(class_type):
            patch[INPUT_FILE_COMBOS[class_type]] = self._input_files
        if not patch:
            return base
        info = dict(base)
        info["input"] = {k: dict(v) if isinstance(v, dict) else v for k, v in base["input"].items()}
        for cat in ("required", "optional"):
            for name, options in patch.items():
                if name in info["input"].get(cat, {}):
                    info["input"][cat][name] = _with_options(info["input"][cat][name], options)
        self._patched[class_type] = info
        return info

    def is_output_node(self, class_type: str) -> bool:
        return bool(self.info(class_type).get("output_node"))

    def return_types(self, class_type: str) -> list[Any]:
        return list(self.info(class_type).get("output", []))

    def inputs(self, class_type: str) -> list[tuple[str, str, list[Any]]]:
        """(name, category, spec) for required then optional inputs, in `input_order`."""
        info = self.info(class_type)
        order = info.get("input_order", {})
        out: list[tuple[str, str, list[Any]]] = []
        for cat in ("required", "optional"):
            specs = info["input"].get(cat, {})
            names = order.get(cat) or list(specs)
            out.extend((n, cat, specs[n]) for n in names if n in specs)
        return out

    def input_spec(self, class_type: str, name: str) -> list[Any] | None:
        specs = self.info(class_type)["input"]
        for cat in ("required", "optional"):
            if name in specs.get(cat, {}):
                return list(specs[cat][name])
        return None

    # ----- serving --------------------------------------------------------
    def serialized(self) -> bytes:
        """The whole `/object_info` body, serialized once until something changes."""
        if self._serialized is None:
            data = {name: self.info(name) for name in self._base}
            self._serialized = json.dumps(data).encode()
        return self._serialized
