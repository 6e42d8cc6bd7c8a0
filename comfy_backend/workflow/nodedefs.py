"""Node definitions from a server's ``/object_info``: which inputs are widgets, in which order.

The frontend builds a node's widgets from its definition, required inputs first, then
optional ones (``input_order`` when the server sends it), and inserts companion widgets
right after some of them: ``control_after_generate`` after seeds and flagged numbers or
combos, ``control_filter_list`` after flagged combos, and an ``upload`` button (appended
last) for ``image_upload``-like combos. ``widgets_values`` in a UI workflow is positional
over that list, so converting or patching a workflow starts here.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Input types the core frontend turns into widgets (connection types such as IMAGE do not).
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
#: Widget types registered by core frontend extensions; their value is serialised as is.
EXTENSION_WIDGET_TYPES = frozenset({"MARKDOWN", "WEBCAM", "LOAD_3D", "LOAD_3D_ANIMATION", "PREVIEW_3D", "IMAGECOMPARE"})
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
_UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "file_upload", "model_upload", "3d_upload")
_LEGACY_SEED_NAMES = ("seed", "noise_seed")


@dataclass(frozen=True, slots=True)
class WidgetSlot:
    """One widget of a node, in ``widgets_values`` order.

    ``kind`` is ``value`` for a real input, or ``control``/``filter``/``upload`` for the
    frontend's companion widgets (kept in the workflow, never sent to the server, except
    the ``upload`` button in some 2024 frontends). ``force_input`` marks inputs that have
    a widget only in frontends before 1.16.
    """

    name: str
    kind: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    choices: tuple[Any, ...] | None = None
    force_input: bool = False
    target: str | None = None

    @property
    def default(self) -> Any:
        """The value a fresh widget gets in the frontend."""
        if self.kind == "control":
            d = self.options.get("control_after_generate")
            return d if isinstance(d, str) else "randomize"
        if self.kind == "filter":
            return ""
        if self.kind == "upload":
            return "image"
        if "default" in self.options:
            return self.options["default"]
        if self.type == "COMBO":
            return self.choices[0] if self.choices else None
        if self.type in ("INT", "FLOAT"):
            return self.options.get("min", 0)
        if self.type == "BOOLEAN":
            return False
        if self.type == "STRING":
            return ""
        return None


@dataclass(frozen=True, slots=True)
class InputDef:
    """One input of a node definition (widget or connection)."""

    name: str
    type: str
    options: dict[str, Any]
    choices: tuple[Any, ...] | None
    optional: bool

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES or self.type in EXTENSION_WIDGET_TYPES

    @property
    def force_input(self) -> bool:
        return bool(self.options.get("forceInput") or self.options.get("defaultInput"))


def combo_options(spec: Any) -> list[Any] | None:
    """The allowed values of a combo input spec, in either of ComfyUI's two formats."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return None
    head = spec[0]
    if isinstance(head, list):
        return head
    if head == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        opts = spec[1].get("options")
        return opts if isinstance(opts, list) else None
    return None


def input_type(spec: Any) -> tuple[str, dict[str, Any], tuple[Any, ...] | None]:
    """``(type, options, choices)`` of one input spec in either combo format."""
    if isinstance(spec, str):
        return spec, {}, None
    if not isinstance(spec, (list, tuple)) or not spec:
        return "*", {}, None
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    choices = combo_options(spec)
    if choices is not None:
        return "COMBO", opts, tuple(c if not isinstance(c, list) else tuple(c) for c in choices)
    head = spec[0]
    if head == "COMBO":
        return "COMBO", opts, ()
    return (head if isinstance(head, str) else "*"), opts, None


class NodeDefs:
    """A server's ``/object_info``, with per-class widget layouts computed once."""

    def __init__(self, object_info: dict[str, Any] | None) -> None:
        self.raw: dict[str, Any] = object_info or {}
        self._inputs: dict[str, list[InputDef]] = {}
        self._layouts: dict[str, list[WidgetSlot]] = {}

    @classmethod
    def of(cls, object_info: NodeDefs | dict[str, Any] | None) -> NodeDefs:
        return object_info if isinstance(object_info, NodeDefs) else cls(object_info)

    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and isinstance(self.raw.get(class_type), dict)

    def info(self, class_type: str) -> dict[str, Any] | None:
        d = self.raw.get(class_type)
        return d if isinstance(d, dict) else None

    def inputs(self, class_type: str) -> list[InputDef]:
        """Every input of the class, required then optional, in the server's order."""
        cached = self._inputs.get(class_type)
        if cached is not None:
            return cached
        out: list[InputDef] = []
        info = self.info(class_type) or {}
        spec_all = info["input"] if isinstance(info.get("input"), dict) else {}
        order = info["input_order"] if isinstance(info.get("input_order"), dict) else {}
        for section in ("required", "optional"):
            specs = spec_all.get(section)
            if not isinstance(specs, dict):
                continue
            names = order.get(section)
            if not isinstance(names, list) or set(names) != set(specs):
                names = list(specs)
            for name in names:
                typ, opts, choices = input_type(specs[name])
                out.append(InputDef(name, typ, opts, choices, section == "optional"))
        self._inputs[class_type] = out
        return out

    def input(self, class_type: str, name: str) -> InputDef | None:
        for d in self.inputs(class_type):
            if d.name == name:
                return d
        return None

    def layout(self, class_type: str) -> list[WidgetSlot]:
        """The widgets the frontend creates for this class, in ``widgets_values`` order."""
        cached = self._layouts.get(class_type)
        if cached is not None:
            return cached
        slots: list[WidgetSlot] = []
        uploads: list[WidgetSlot] = []
        for d in self.inputs(class_type):
            if not d.is_widget:
                continue
            slots.append(WidgetSlot(d.name, "value", d.type, d.options, d.choices, d.force_input))
            slots.extend(companions(d))
            if d.type == "COMBO" and any(d.options.get(f) for f in _UPLOAD_FLAGS):
                uploads.append(WidgetSlot("upload", "upload", "UPLOAD", {}, None, False, d.name))
        slots.extend(uploads)
        self._layouts[class_type] = slots
        return slots

    def outputs(self, class_type: str) -> list[tuple[str, str]]:
        """``(name, type)`` of each output slot."""
        info = self.info(class_type) or {}
        types = info.get("output") or []
        names = info.get("output_name") or types
        return [(str(n), t if isinstance(t, str) else "COMBO") for n, t in zip(names, types)]

    def is_output_node(self, class_type: str) -> bool:
        return bool((self.info(class_type) or {}).get("output_node"))

    def classes(self) -> Iterator[str]:
        return iter(k for k, v in self.raw.items() if isinstance(v, dict))


def companions(d: InputDef) -> list[WidgetSlot]:
    """Control widgets the frontend adds right after the widget of input ``d``."""
    flag = d.options.get("control_after_generate")
    if d.type == "INT":
        if flag is None:
            flag = d.name in _LEGACY_SEED_NAMES
        if flag:
            return [WidgetSlot("control_after_generate", "control", "COMBO", d.options, CONTROL_VALUES, False, d.name)]
    elif d.type == "COMBO" and flag:
        return [
            WidgetSlot("control_after_generate", "control", "COMBO", d.options, CONTROL_VALUES, False, d.name),
            WidgetSlot("control_filter_list", "filter", "STRING", {}, None, False, d.name),
        ]
    return []
