"""What a workflow node is made of: its workflow, exposed parameters, image inputs and outputs.

A node keeps the **UI workflow** (graph and layout) as its source of truth whenever it has
one; API-only workflows keep their prompt. Fields, ports and exposures are found in either,
under the node ids the API uses (``outer:inner`` inside subgraphs); the prompt for a run is
built per server by the core.

This is the one module that glues the node package to the workflow face
(``comfy_backend.workflow``): fields, suggestions and media ports come from it,
files are read and UI workflows converted by it. Nothing here re-implements them;
it only shapes their results into a node's spec. Prompts for runs are built by the
core from a ``RunRequest`` (see ``WorkflowNode.run_request``), never here; node
definitions come from the core's one cache, passed in by the caller.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from comfy_backend import WorkflowError
from comfy_backend import workflow as core_workflow  # its ``suggest`` function is also a module's name
from comfy_backend.workflow import (
    SEED_INPUTS,
    ExposedParameter,
    ParsedWorkflow,
    check_api_prompt,
    expose,
    list_fields,
    load_bytes,
    parse_json_text,
    ports,
)

ParamSpec = ExposedParameter  # one exposed parameter (the workflow layer's model)
MediaKind = Literal["image", "mask", "video", "audio", "other"]
ObjectInfo = dict[str, Any] | None


class ImageInputSpec(BaseModel):
    """A media input port: an upstream file is uploaded and set as ``node_id.input_name``."""

    id: str
    label: str
    node_id: str
    input_name: str = "image"
    kind: MediaKind = "image"


class OutputSpec(BaseModel):
    """An output port: the files one output node of the prompt produces."""

    id: str
    label: str
    node_id: str
    class_type: str
    kind: MediaKind = "image"


class TargetSpec(BaseModel):
    """Where the node's jobs run: auto (empty), a pinned server, or servers having all tags."""

    server: str | None = None
    tags: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        if self.server:
            return f"server {self.server}"
        return ("tags " + ", ".join(self.tags)) if self.tags else "auto"


class WorkflowSpec(BaseModel):
    """A workflow as a node type: stable id, title, its workflow and ports.

    ``ui`` is the UI workflow when there is one (the source of truth: runs send it, converted
    per server by the core); otherwise ``prompt`` is the API prompt. Older specs have only
    ``prompt``.
    """

    id: str
    title: str
    prompt: dict[str, Any] = Field(default_factory=dict)
    ui: dict[str, Any] | None = None
    params: list[ExposedParameter] = Field(default_factory=list)
    image_inputs: list[ImageInputSpec] = Field(default_factory=list)
    outputs: list[OutputSpec] = Field(default_factory=list)

    @property
    def workflow(self) -> dict[str, Any]:
        """What runs and discovery use: the UI workflow when there is one, else the API prompt."""
        return self.ui if self.ui is not None else self.prompt

    @property
    def node_count(self) -> int:
        """How many ComfyUI nodes the workflow has (top level of a UI workflow)."""
        if self.ui is not None:
            nodes = self.ui.get("nodes")
            return len(nodes) if isinstance(nodes, list) else 0
        return len(self.prompt)

    def param(self, key: str) -> ExposedParameter | None:
        """A parameter by id, label (case-insensitive) or ``node_id.input_name``."""
        for p in self.params:
            if key in (p.id, f"{p.node_id}.{p.input_name}") or p.label.lower() == key.lower():
                return p
        return None

    def param_at(self, node_id: str, input_name: str) -> ExposedParameter | None:
        return next((p for p in self.params if p.node_id == node_id and p.input_name == input_name), None)


def slug(text: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()
    return s or "workflow"


def is_seed(p: ExposedParameter) -> bool:
    return p.input_name in SEED_INPUTS or p.id == "seed"


def _media_inputs(prompt: dict[str, Any], object_info: ObjectInfo) -> list[ImageInputSpec]:
    return [ImageInputSpec(id=f"{p.node_id}.{p.input_name}", label=p.title, node_id=p.node_id,
                           input_name=p.input_name or "image", kind=p.media)
            for p in ports(prompt, object_info) if p.direction == "input"]


def _fed_by_port(prompt: dict[str, Any], object_info: ObjectInfo) -> set[tuple[str, str]]:
    return {(i.node_id, i.input_name) for i in _media_inputs(prompt, object_info)}


def settable_fields(prompt: dict[str, Any], object_info: ObjectInfo = None) -> list[ExposedParameter]:
    """Every literal input of a workflow (UI or API) as a parameter that could be exposed (media inputs are ports).

    ``object_info`` (a server's node definitions, when known) gives types and bounds.
    """
    fed = _fed_by_port(prompt, object_info)
    return [expose(f, label=f"{f.node_title} {f.input_name}", id=f.key)
            for f in list_fields(prompt, object_info) if (f.node_id, f.input_name) not in fed]


def suggested_params(prompt: dict[str, Any], object_info: ObjectInfo = None) -> list[ExposedParameter]:
    """The usual parameters (prompts, seed, steps, size...), without inputs fed by media ports."""
    fed = _fed_by_port(prompt, object_info)
    return [p for p in core_workflow.suggest(prompt, object_info) if (p.node_id, p.input_name) not in fed]


def image_inputs(prompt: dict[str, Any], object_info: ObjectInfo = None) -> list[ImageInputSpec]:
    return _media_inputs(prompt, object_info)


def output_ports(prompt: dict[str, Any], object_info: ObjectInfo = None) -> list[OutputSpec]:
    return [OutputSpec(id=p.node_id, label=p.title, node_id=p.node_id, class_type=p.node_type, kind=p.media)
            for p in ports(prompt, object_info) if p.direction == "output"]


def spec_from_prompt(prompt: dict[str, Any], title: str, spec_id: str | None = None,
                     params: list[ExposedParameter] | None = None, object_info: ObjectInfo = None) -> WorkflowSpec:
    """A workflow spec with the suggested parameters exposed (typed and bounded with ``object_info``).

    ``prompt`` is an API prompt or a UI workflow (kept as the spec's ``ui``).
    """
    model = ParsedWorkflow.of(prompt)
    if model.is_ui:
        _ = model.graph   # a malformed UI workflow is refused here, with the parser's message
        ui: dict[str, Any] | None = model.raw
        workflow: dict[str, Any] = model.raw
        api: dict[str, Any] = {}
    else:
        ui, api = None, check_api_prompt(prompt, title)
        workflow = api
    return WorkflowSpec(id=spec_id or slug(title), title=title, prompt=api, ui=ui,
                        params=params if params is not None else suggested_params(workflow, object_info),
                        image_inputs=image_inputs(workflow, object_info), outputs=output_ports(workflow, object_info))


def with_workflow(spec: WorkflowSpec, workflow: dict[str, Any], params: list[ExposedParameter],
                  object_info: ObjectInfo = None) -> WorkflowSpec:
    """``spec`` (same id and title) holding another workflow, with ``params`` exposed and its ports found anew."""
    return spec_from_prompt(workflow, spec.title, spec.id, params=list(params), object_info=object_info)


def load_workflow_file(path: str | Path, title: str | None = None,
                       object_info: dict[str, Any] | None = None) -> WorkflowSpec:
    """A spec from a workflow file: API or UI JSON, a PNG/WebP with metadata, or a saved spec.

    A UI workflow is kept as it is (no server needed); ``object_info`` only types the parameters.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise WorkflowError(f"{p}: workflow file not found") from None
    except OSError as exc:
        raise WorkflowError(f"{p}: cannot read: {exc.strerror}") from None
    if raw.lstrip()[:1] == b"{":
        data = parse_json_text(raw, str(p))
        if isinstance(data, dict) and data.get("ryven_comfy_workflow") == 1:
            return WorkflowSpec.model_validate(data["spec"])
    wf = load_bytes(raw, str(p))
    prompt = wf.ui if wf.ui is not None else wf.api
    if prompt is None:
        raise WorkflowError(f"{p}: no ComfyUI workflow in the file")
    name = title or p.name.rsplit(".", 1)[0].removesuffix("_api").replace("_", " ")
    return spec_from_prompt(prompt, name, slug(name), object_info=object_info)


def refine_spec(spec: WorkflowSpec, object_info: ObjectInfo | list[dict[str, Any]]) -> WorkflowSpec:
    """``spec`` with its parameters' types and constraints taken from servers' node definitions.

    With several servers' definitions, a combo offers what *any* of them has (the scheduler
    sends a job to a server that can run it); bounds come from the first that knows the node.
    Ids, labels, defaults and exposures stay; parameters of node types no server knows keep
    what they had. The definitions are the core's (``Orchestrator.node_definitions``); this is
    only for the editors (bounds and choices): runs are checked by the core itself.
    """
    infos = [i for i in ([object_info] if isinstance(object_info, dict) else object_info or []) if i]
    if not infos:
        return spec
    per_info = [[f for f in list_fields(spec.workflow, info) if f.node_type in info] for info in infos]
    params = []
    for p in spec.params:
        found = [f for fields in per_info for f in fields if (f.node_id, f.input_name) == (p.node_id, p.input_name)]
        if not found and p.widget_index is not None and re.fullmatch(r"widget_\d+", p.input_name):
            # found without node definitions (a UI file added with no server): named by position until now
            found = [f for fields in per_info for f in fields
                     if f.node_id == p.node_id and f.widget_index == p.widget_index][:1]
        if not found:
            params.append(p)
            continue
        c = found[0].constraints.model_copy()
        if c.choices is not None:
            for f in found[1:]:
                c.choices += [x for x in f.constraints.choices or [] if x not in c.choices]
        params.append(p.model_copy(update={"type": found[0].type, "constraints": c, "input_name": found[0].input_name}))
    if params == spec.params:
        return spec
    return spec.model_copy(update={"params": params})


def node_heading(spec: WorkflowSpec, node_id: str) -> tuple[str, str]:
    """(title, class type) of a ComfyUI node of the spec's workflow by API node id (``outer:inner`` too)."""
    if spec.ui is None:
        entry = spec.prompt.get(node_id, {})
        return (entry.get("_meta") or {}).get("title") or entry.get("class_type", ""), entry.get("class_type", "?")
    nodes = spec.ui.get("nodes") or []
    subs = {str(s.get("id")): s for s in (spec.ui.get("definitions") or {}).get("subgraphs") or [] if isinstance(s, dict)}
    found: dict[str, Any] = {}
    for part in node_id.split(":"):
        found = next((n for n in nodes if isinstance(n, dict) and str(n.get("id")) == part), {})
        nodes = (subs.get(str(found.get("type"))) or {}).get("nodes") or []
    kind = str(found.get("type") or "?")
    return str(found.get("title") or kind), kind
