"""pydantic models of the workflow formats: the typed view of a validated file.

Extra fields are kept (``extra="allow"``): workflows carry many fields this project
does not use, and a file written back must not lose them.
"""
from __future__ import annotations

from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...errors import WorkflowError
from . import json_path

NodeId = Union[int, str]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class InputSlot(_Open):
    name: str
    type: Any = None
    link: int | str | None = None
    widget: dict[str, Any] | None = None


class OutputSlot(_Open):
    name: str = ""
    type: Any = None
    links: list[int | str | None] | None = None


class UINode(_Open):
    id: NodeId
    type: str = Field(min_length=1)
    mode: int | None = 0
    title: str | None = None
    inputs: list[InputSlot] | None = None
    outputs: list[OutputSlot] | None = None
    widgets_values: list[Any] | dict[str, Any] | None = None
    properties: dict[str, Any] | None = None


class UIGraph(_Open):
    nodes: list[UINode]
    links: list[Any] | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> UIGraph:
        seen: dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            key = str(n.id)
            if key in seen:
                raise ValueError(f"nodes[{i}].id: duplicate node id {n.id!r} (also nodes[{seen[key]}])")
            seen[key] = i
        return self


class Subgraph(UIGraph):
    id: str
    name: str = ""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []


class Definitions(_Open):
    subgraphs: list[Subgraph] = []


class UIWorkflow(UIGraph):
    version: float | None = None
    extra: dict[str, Any] | None = None
    definitions: Definitions | None = None


class ApiNode(_Open):
    class_type: str = Field(min_length=1)
    inputs: dict[str, Any] = {}
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")


def _raise(exc: ValidationError, source: str) -> None:
    e = exc.errors()[0]
    loc = json_path(p for p in e["loc"] if p not in ("function-after[_unique_ids(), UIGraph]",))
    msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
    if ": duplicate node id" in msg:
        prefix = loc.rsplit("nodes", 1)[0] if "nodes" in loc else ""
        raise WorkflowError(f"{source}: {prefix}{msg}") from None
    raise WorkflowError(f"{source}: {loc}: {msg}") from None


def check_ui_model(data: Any, source: str) -> UIWorkflow:
    try:
        return UIWorkflow.model_validate(data)
    except ValidationError as exc:
        _raise(exc, source)
        raise  # unreachable


def check_api_model(data: Any, source: str) -> dict[str, ApiNode]:
    try:
        return {str(k): ApiNode.model_validate(v) for k, v in data.items()}
    except ValidationError as exc:
        _raise(exc, source)
        raise  # unreachable
