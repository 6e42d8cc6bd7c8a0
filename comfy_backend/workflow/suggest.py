"""The usual parameters and the media ports of a workflow.

Prompts are recognised by where their conditioning goes (:mod:`.roles`: followed through
conditioning chains, guiders, reroutes and subgraphs to a sampler's ``positive`` or
``negative``), not by their title. Everything else is recognised by input name on the node
that has it.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from .graph import MODE_BYPASS, MODE_NEVER
from .nodedefs import NodeDefs
from .params import ExposedParameter, Field, Port, expose, list_fields
from .parsed import ParsedWorkflow, WorkflowLike
from .roles import prompt_roles

#: input name → (parameter id, label) of the usual knobs
_BY_NAME: dict[str, tuple[str, str]] = {
    "seed": ("seed", "Seed"), "noise_seed": ("seed", "Seed"), "steps": ("steps", "Steps"), "cfg": ("cfg", "CFG"),
    "sampler_name": ("sampler", "Sampler"), "scheduler": ("scheduler", "Scheduler"), "denoise": ("denoise", "Denoise"),
    "width": ("width", "Width"), "height": ("height", "Height"), "batch_size": ("batch_size", "Batch size"),
    "ckpt_name": ("checkpoint", "Checkpoint"), "unet_name": ("model", "Model"),
    "strength_model": ("lora_strength", "LoRA strength"), "strength_clip": ("lora_clip_strength", "LoRA CLIP strength"),
    "lora_name": ("lora", "LoRA"), "filename_prefix": ("filename_prefix", "File name prefix"),
}
_PROMPT_INPUTS = ("text", "prompt", "text_g", "text_l", "positive", "negative")

#: output node class → media kind
OUTPUT_MEDIA: dict[str, str] = {
    "SaveImage": "image", "PreviewImage": "image", "SaveImageWebsocket": "image", "ETN_SendImageWebSocket": "image",
    "SaveAnimatedWEBP": "image", "SaveAnimatedPNG": "image", "SaveVideo": "video", "SaveWEBM": "video",
    "VHS_VideoCombine": "video", "SaveAudio": "audio", "SaveAudioMP3": "audio", "SaveAudioOpus": "audio",
    "PreviewAudio": "audio", "MaskPreview": "mask", "PreviewMask": "mask", "Image Save": "image",
    "SaveImageExtended": "image", "ImageSaveWithMetadata": "image", "SaveGLB": "other", "Preview3D": "other",
}
#: input node class → (media kind, widget holding the file name)
INPUT_MEDIA: dict[str, tuple[str, str]] = {
    "LoadImage": ("image", "image"), "LoadImageMask": ("mask", "image"), "LoadImageOutput": ("image", "image"),
    "LoadVideo": ("video", "file"), "VHS_LoadVideo": ("video", "video"), "VHS_LoadVideoPath": ("video", "video"),
    "LoadAudio": ("audio", "audio"), "VHS_LoadAudio": ("audio", "audio_file"), "ETN_LoadImageBase64": ("image", "image"),
    "LoadImageFromUrl": ("image", "url"),
}
_UPLOAD_MEDIA = {"image_upload": "image", "video_upload": "video", "audio_upload": "audio"}


def suggest(workflow: WorkflowLike, object_info: NodeDefs | dict[str, Any] | None = None,
            fields: list[Field] | None = None) -> list[ExposedParameter]:
    """The parameters a user usually wants on the node: prompts, seed, steps, cfg, size, …"""
    model = ParsedWorkflow.of(workflow)
    fields = fields if fields is not None else list_fields(model, object_info)
    roles = prompt_roles(model, object_info)
    taken: set[str] = set()
    out: list[ExposedParameter] = []
    prompt_count: dict[str, int] = defaultdict(int)
    for f in fields:
        role = roles.get(f.node_id)
        if role and _is_prompt_text(f):
            role = f.input_name if f.input_name in ("positive", "negative") else role
            prompt_count[role] += 1
            label = "Positive prompt" if role == "positive" else "Negative prompt"
            if prompt_count[role] > 1:
                label += f" {prompt_count[role]}"
            out.append(expose(f, label=label, id=f"{role}_prompt", taken=taken))
            continue
        known = _BY_NAME.get(f.input_name)
        if known is None:
            continue
        pid, label = known
        if f.input_name in ("width", "height", "batch_size") and not _is_size_node(f):
            continue
        out.append(expose(f, label=label, id=pid, taken=taken))
    for f in fields:
        if f.node_type in INPUT_MEDIA and f.input_name == INPUT_MEDIA[f.node_type][1]:
            out.append(expose(f, label=f"{f.node_title} file", id="image" if f.node_type.startswith("LoadImage") else "file",
                              taken=taken))
    return out


def _is_prompt_text(f: Field) -> bool:
    """A text field of a node whose text ends in a prompt's conditioning."""
    if f.type == "STRING":
        return True
    return f.type == "*" and isinstance(f.value, str) and f.input_name in _PROMPT_INPUTS


def _is_size_node(f: Field) -> bool:
    return "Latent" in f.node_type or f.node_type in ("EmptyImage", "ImageScale", "EmptySD3LatentImage")


def ports(workflow: WorkflowLike, object_info: NodeDefs | dict[str, Any] | None = None) -> list[Port]:
    """Media input ports (LoadImage-like nodes) and output ports (Save/Preview nodes) of the workflow."""
    defs = NodeDefs.of(object_info)
    out: list[Port] = []
    for nid, ntype, title in _nodes(ParsedWorkflow.of(workflow), defs):
        if ntype in INPUT_MEDIA:
            media, widget = INPUT_MEDIA[ntype]
            out.append(Port(direction="input", node_id=nid, node_type=ntype, title=title, media=media, input_name=widget))  # type: ignore[arg-type]
        elif ntype in defs and (upl := _upload_input(defs, ntype)):
            out.append(Port(direction="input", node_id=nid, node_type=ntype, title=title, media=upl[0], input_name=upl[1]))  # type: ignore[arg-type]
        if ntype in OUTPUT_MEDIA:
            out.append(Port(direction="output", node_id=nid, node_type=ntype, title=title, media=OUTPUT_MEDIA[ntype]))  # type: ignore[arg-type]
        elif ntype in defs and defs.is_output_node(ntype):
            names = {d.type for d in defs.inputs(ntype)}
            media = "image" if "IMAGE" in names else ("mask" if "MASK" in names else "other")
            out.append(Port(direction="output", node_id=nid, node_type=ntype, title=title, media=media))  # type: ignore[arg-type]
    return out


def _upload_input(defs: NodeDefs, ntype: str) -> tuple[str, str] | None:
    for d in defs.inputs(ntype):
        for flag, media in _UPLOAD_MEDIA.items():
            if d.options.get(flag):
                return media, d.name
    return None


def _nodes(model: ParsedWorkflow, defs: NodeDefs) -> list[tuple[str, str, str]]:
    if model.is_ui:
        return [(n.key, n.type, n.title or str((defs.info(n.type) or {}).get("display_name") or n.type))
                for n in model.graph.root.nodes.values() if n.mode not in (MODE_NEVER, MODE_BYPASS)]
    return [(str(k), str(v.get("class_type")), str((v.get("_meta") or {}).get("title") or v.get("class_type")))
            for k, v in model.raw.items() if isinstance(v, dict)]
