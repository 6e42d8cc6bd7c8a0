"""Small helper nodes around workflows: Image file, Text, Number, Seed, Preview, Save outputs.

Value nodes pass their input straight to their output (cheap, no jobs), so
they work in Ryven's data mode; ``prepare_run`` is called by the flow runner
before a run (the Seed node draws a new seed there when set to randomize).
"""
from __future__ import annotations

from typing import Any

from ryvencore import Data, Node, NodeInputType, NodeOutputType
from ryvencore.Base import Event

from comfy_backend.workflow import random_seed

from .run_state import RunStatus, check_transition
from .values import file_value


class UtilityNode(Node):
    version = "1"
    tags = ["comfyui"]

    def place_event(self) -> None:
        self.update()

    def prepare_run(self) -> None:
        self.update()

    def inp_value(self, i: int) -> Any:
        d = self.input(i)
        return None if d is None else d.payload


class ImageFileNode(UtilityNode):
    """A local image file, uploaded to whichever server runs the workflow it feeds."""

    title = "Image file"
    identifier = base_identifier = "util.image"
    init_inputs = [NodeInputType(label="path", default=Data(""))]
    init_outputs = [NodeOutputType(label="image")]

    def update_event(self, inp: int = -1) -> None:
        path = self.inp_value(0)
        self.set_output_val(0, Data(file_value(path) if path else None))


class TextNode(UtilityNode):
    title = "Text"
    identifier = base_identifier = "util.text"
    init_inputs = [NodeInputType(label="text", default=Data(""))]
    init_outputs = [NodeOutputType(label="text")]

    def update_event(self, inp: int = -1) -> None:
        self.set_output_val(0, Data(str(self.inp_value(0) or "")))


class NumberNode(UtilityNode):
    title = "Number"
    identifier = base_identifier = "util.number"
    init_inputs = [NodeInputType(label="value", default=Data(1.0))]
    init_outputs = [NodeOutputType(label="value")]

    def update_event(self, inp: int = -1) -> None:
        v = self.inp_value(0)
        if isinstance(v, str):
            try:
                v = float(v) if any(c in v for c in ".eE") else int(v)
            except ValueError:
                v = 0
        self.set_output_val(0, Data(v))


class SeedNode(UtilityNode):
    """A seed: fixed, or a new random one for every run."""

    title = "Seed"
    identifier = base_identifier = "util.seed"
    init_inputs = [NodeInputType(label="seed", default=Data(0)), NodeInputType(label="randomize", default=Data(False))]
    init_outputs = [NodeOutputType(label="seed")]

    def update_event(self, inp: int = -1) -> None:
        self.set_output_val(0, Data(int(self.inp_value(0) or 0)))

    def prepare_run(self) -> None:
        if self.inp_value(1) and not self._inp_connected(0):
            self.inputs[0].default = Data(random_seed())
        self.update()


class PreviewNode(Node):
    """Shows the files arriving at its input (thumbnails in the GUI)."""

    title = "Preview"
    version = "1"
    tags = ["comfyui"]
    identifier = base_identifier = "util.preview"
    init_inputs = [NodeInputType(label="files")]
    init_outputs = []

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.value: Any = None
        self.shown = Event()

    def update_event(self, inp: int = -1) -> None:
        d = self.input(0)
        self.value = None if d is None else d.payload
        self.shown.emit()


class SaveOutputsNode(Node):
    """Saves the files at its input into a folder when the flow runs (not on connect).

    A relative folder is taken inside the run's output folder (``--out`` headless).
    """

    title = "Save outputs"
    version = "1"
    tags = ["comfyui"]
    identifier = base_identifier = "util.save"
    init_inputs = [NodeInputType(label="files"), NodeInputType(label="folder", default=Data("saved"))]
    init_outputs = [NodeOutputType(label="paths")]

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.status = RunStatus.IDLE  # idle | pending | saving | saved | failed | blocked
        self.message = ""
        self.saved: list[str] = []
        self.status_changed = Event()

    def _enter(self, status: RunStatus, message: str = "") -> None:
        self.status = check_transition(self.status, status, f"node {self.title!r}")
        self.message = message
        self.status_changed.emit()

    def mark_pending(self) -> None:
        """Part of a run, waiting for its upstream nodes."""
        self._enter(RunStatus.PENDING)

    def mark_blocked(self, message: str) -> None:
        """Not run because an upstream node did not succeed."""
        self._enter(RunStatus.BLOCKED, message)

    def mark_saving(self) -> None:
        self._enter(RunStatus.SAVING)

    def mark_saved(self, paths: list[str], message: str) -> None:
        """The files were written: their paths go on the output port."""
        self.saved = list(paths)
        self.set_output_val(0, Data(list(paths)))
        self._enter(RunStatus.SAVED, message)

    def mark_failed(self, message: str) -> None:
        self._enter(RunStatus.FAILED, message)


UTILITY_NODES: list[type[Node]] = [ImageFileNode, TextNode, NumberNode, SeedNode, PreviewNode, SaveOutputsNode]
