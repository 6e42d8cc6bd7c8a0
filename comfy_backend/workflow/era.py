"""Which frontend saved a workflow, as far as its prompt differs: read from the file itself.

The prompt a browser sent differs between frontend generations in details the server does
not use, but that a faithful conversion reproduces. None of these frontends wrote its
version into the file before ``extra.frontendVersion`` (TypeScript frontend, 2025), so the
older ones are told apart by what their code left in the workflow:

* **Jan–Mar 2023** (``webshit/index.html``): ``graphToPrompt`` sent *every* widget, including
  the boolean ``Random seed after every gen`` toggle. That frontend never resized an image
  output node; the one that replaced it (``web/scripts/app.js``, Mar 2023) made the toggle
  ``serialize: false`` and grows SaveImage/PreviewImage to fit the first image it shows
  (``setSizeForImage``: image top + 220 px). A file with the toggle whose image outputs
  all still have their bare height, and whose nodes have no properties and no converted
  widget inputs (both came with the successor), was saved by the first one.
* **Mar–Nov 2023** (``web/scripts/widgets.js``): the image upload button was created as
  ``addWidget("button", "choose file to upload", …)`` with a widget-level ``serialize =
  false`` that ``graphToPrompt`` does not look at (it checks ``options.serialize``), so
  the prompt carried ``"choose file to upload": "image"``.
* **Late 2023 – early 2025**: the button is named after its input, ``upload``, and still
  sent. The rename came with group nodes (ComfyUI PR #1776, whose ``groupNode.js`` maps
  ``IMAGEUPLOAD`` widgets by input name): the corpus' SVD examples of late Nov 2023 still
  send the old name, the Stable Zero123 ones of Dec 2023 the new one. So ``extra.groupNodes``
  or a ``workflow>``/``workflow/`` node marks this era; so do the canvas position
  (``extra.ds``), slot ``shape`` on inputs, positions stored as objects, and core node types
  added to ComfyUI after the rename (the legacy frontend shipped with the server, so a node
  type in the file dates the frontend that saved it). The TypeScript frontend kept sending
  ``upload`` until about Mar 2025, before it wrote ``frontendVersion``.
* **2025 on** (``extra.frontendVersion`` or ``cnr_id`` node properties): the button has
  ``options.serialize: false`` and is not sent.
* **Frontend 1.16 on**: every widget is an input slot (``inputs[i].widget`` with just a
  ``name``), sent with its value when nothing is connected to it. Before, only widgets the
  user converted were listed, and such a converted widget was left out of the prompt while
  unconnected (``hideWidget``'s ``serializeValue``). ``graphToPrompt`` writes the version
  into the workflow it returns, but ``app.graph.serialize()`` does not (frontends 1.32.9
  and 1.58.1, captured), so a live editor's graph has no version: the shape of its nodes
  dates it (:func:`widget_sockets`), as do subgraph definitions (frontend 1.24 on).

A file with none of these marks is taken as Mar–Nov 2023, the period most undated files
come from; a later file that uses only older node types and no later serialisation
detail cannot be told apart from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .graph import Node, Workflow
from .nodedefs import WIDGET_TYPES, NodeDefs

SEED_TOGGLE_NAME = "Random seed after every gen"
UPLOAD_2023 = "choose file to upload"
UPLOAD_LEGACY = "upload"

#: Core node types added to ComfyUI after the upload button was renamed (Dec 2023 on).
#: Files containing one were saved by a frontend that sends ``upload``.
CORE_TYPES_AFTER_RENAME = frozenset({
    "StableZero123_Conditioning", "StableZero123_Conditioning_Batched", "SV3D_Conditioning",
    "PhotoMakerLoader", "PhotoMakerEncode", "ImageFromBatch",
    "StableCascade_EmptyLatentImage", "StableCascade_StageB_Conditioning", "StableCascade_StageC_VAEEncode",
    "StableCascade_SuperResolutionControlnet", "ModelSamplingStableCascade",
    "InstructPixToPixConditioning", "DualCFGGuider", "SamplerCustomAdvanced", "RandomNoise", "DisableNoise",
    "BasicGuider", "CFGGuider", "AddNoise",
    "TripleCLIPLoader", "EmptySD3LatentImage", "CLIPTextEncodeSD3", "ModelSamplingSD3", "ControlNetApplySD3",
    "FluxGuidance", "CLIPTextEncodeFlux", "ModelSamplingFlux",
})
_IMAGE_OUTPUT_TYPES = ("SaveImage", "PreviewImage")
#: SaveImage/PreviewImage are ~58 px high when created; setSizeForImage makes them >= ~250
_RESIZED_FOR_IMAGE = 150
#: Unconnected widget slots a 1.16-shaped file needs: one converted widget proves nothing
_MIN_OPEN_SOCKETS = 2


@dataclass(frozen=True, slots=True)
class Era:
    """Behaviour that changed between frontend versions, inferred from the saved workflow."""

    frontend: tuple[int, ...] | None
    legacy: bool
    drop_unlinked_converted: bool
    #: name under which the image upload button was sent, or None when it was not sent
    upload_name: str | None = UPLOAD_LEGACY
    #: name under which the 2023 seed toggle was sent, or None
    seed_toggle_name: str | None = None

    @classmethod
    def of(cls, wf: Workflow, defs: NodeDefs | None = None) -> Era:
        """The era of ``wf``; ``defs`` (the server's node definitions) lets its shape date it."""
        version = _version(wf.extra.get("frontendVersion"))
        nodes = list(wf.root.nodes.values())
        sockets = version is None and widget_sockets(wf, defs)
        legacy = version is None and not sockets and not any("cnr_id" in n.properties for n in nodes)
        upload = legacy_upload_name(wf, nodes) if legacy else None
        toggle = SEED_TOGGLE_NAME if legacy and _sends_seed_toggle(nodes) else None
        drop = not sockets and (version is None or version < (1, 16))
        return cls(version, legacy, drop, upload, toggle)

    @classmethod
    def current(cls) -> Era:
        """The behaviour of today's frontend (for workflows made by tools, not saved by a browser)."""
        return cls((1, 99), False, False, None)


def _version(fv: Any) -> tuple[int, ...] | None:
    if not isinstance(fv, str):
        return None
    try:
        return tuple(int(p) for p in fv.split(".")[:3])
    except ValueError:
        return None


def legacy_upload_name(wf: Workflow, nodes: list[Node]) -> str:
    """``upload`` or ``choose file to upload``: which name a frontend without a version sent."""
    if "ds" in wf.extra or "groupNodes" in wf.extra:
        return UPLOAD_LEGACY
    for n in nodes:
        if n.type.startswith(("workflow>", "workflow/")) or n.type in CORE_TYPES_AFTER_RENAME:
            return UPLOAD_LEGACY
        if isinstance(n.raw.get("pos"), dict) or any("shape" in i for i in n.inputs):
            return UPLOAD_LEGACY
    return UPLOAD_2023


def _height(n: Node) -> float | None:
    size = n.raw.get("size")
    h = size.get("1") if isinstance(size, dict) else size[1] if isinstance(size, list) and len(size) > 1 else None
    return h if isinstance(h, (int, float)) and not isinstance(h, bool) else None


def _sends_seed_toggle(nodes: list[Node]) -> bool:
    """The first frontend saved this file (the converter then sends the toggle where a seed's
    control value is the boolean of that era).

    Its nodes carry no ``properties`` (the ``Node name for S&R`` property every node gets
    from ``app.js`` came after it) and no converted widget inputs (``widget`` on an input
    slot: ``widgetInputs.js``, also ``app.js``), and its image outputs were never resized for
    an image. The last test alone is not enough: a Mar-Nov 2023 file saved before anything
    ran has bare image outputs too, and its frontend did not send the toggle.
    """
    if any(n.properties for n in nodes) or any("widget" in i for n in nodes for i in n.inputs):
        return False
    heights = [_height(n) for n in nodes if n.type in _IMAGE_OUTPUT_TYPES]
    return bool(heights) and all(h is not None and h < _RESIZED_FOR_IMAGE for h in heights)


def widget_sockets(wf: Workflow, defs: NodeDefs | None) -> bool:
    """The file has the shape of frontend 1.16 on, where every widget is an input slot.

    Subgraph definitions (frontend 1.24 on) are enough. Otherwise, among the nodes ``defs``
    describes that have widgets, more than half must list every widget in their ``inputs``
    (older frontends listed only widgets converted by hand: a node with all of them
    converted is rare there), at least :data:`_MIN_OPEN_SOCKETS` of those slots must be
    unconnected, and no slot may carry the ``config`` of 2023 converted widgets. Without
    ``defs`` only the subgraph mark counts.
    """
    if wf.subgraphs:
        return True
    if defs is None:
        return False
    nodes = list(wf.root.nodes.values())
    if any(isinstance(i.get("widget"), dict) and "config" in i["widget"] for n in nodes for i in n.inputs):
        return False
    bearing = full = open_slots = 0
    for n in nodes:
        if n.type not in defs:
            continue
        names = [s.name for s in defs.layout(n.type) if s.kind == "value" and not s.force_input
                 and s.type in WIDGET_TYPES and not s.options.get("socketless")]
        if not names:
            continue
        bearing += 1
        slots = {i["widget"].get("name"): i for i in n.inputs if isinstance(i.get("widget"), dict)}
        if all(name in slots for name in names):
            full += 1
            open_slots += sum(slots[name].get("link") is None for name in names)
    return 2 * full > bearing and open_slots >= _MIN_OPEN_SOCKETS
