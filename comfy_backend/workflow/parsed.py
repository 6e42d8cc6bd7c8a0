"""The one parsed model of a workflow: :class:`ParsedWorkflow`.

A workflow is parsed once at the edge — :func:`~.formats.load_workflow` and friends
validate it against the JSON Schema and build its graph — and every workflow function
(``list_fields``, ``suggest``, ``ports``, ``apply_values``, ``seed_controls``, ``to_api``)
takes the parsed model. Those functions still accept a raw dict (a UI workflow or an API
prompt) or a :class:`~.graph.Workflow`: it is wrapped here once per call, and the graph is
built only when a UI function needs it. A caller that makes several calls on the same
workflow should parse it once with :meth:`ParsedWorkflow.of` and pass the model.

The model is read-only by convention: the graph is built from ``raw`` once and cached,
so ``raw`` must not be changed afterwards (patching returns a new model).
"""
from __future__ import annotations

from typing import Any, Literal

from ..errors import WorkflowError
from .graph import Workflow, parse_workflow

Kind = Literal["ui", "api"]


def is_ui(data: Any) -> bool:
    """True for a UI-format workflow (a top-level ``nodes`` array)."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


class ParsedWorkflow:
    """A UI workflow or an API prompt: the validated raw dict and, for UI workflows, its graph."""

    __slots__ = ("_graph", "kind", "raw", "source")

    def __init__(self, raw: dict[str, Any], kind: Kind | None = None, source: str = "workflow",
                 graph: Workflow | None = None) -> None:
        if not isinstance(raw, dict):
            raise WorkflowError(f"{source}: expected a JSON object, got {type(raw).__name__}")
        self.raw = raw
        self.kind: Kind = kind or ("ui" if is_ui(raw) else "api")
        self.source = source
        self._graph = graph

    @classmethod
    def of(cls, workflow: WorkflowLike) -> ParsedWorkflow:
        """``workflow`` itself when already parsed, else a model wrapping it (graph built on first use)."""
        if isinstance(workflow, ParsedWorkflow):
            return workflow
        if isinstance(workflow, Workflow):
            return cls(workflow.raw, "ui", graph=workflow)
        return cls(workflow)

    @property
    def is_ui(self) -> bool:
        return self.kind == "ui"

    @property
    def graph(self) -> Workflow:
        """The graph of a UI workflow, built on first use; WorkflowError naming the place if malformed."""
        if self._graph is None:
            if self.kind != "ui":
                raise WorkflowError(f"{self.source}: this is an API prompt; a UI-format workflow is needed here")
            self._graph = parse_workflow(self.raw)
        return self._graph

    def __repr__(self) -> str:
        return f"ParsedWorkflow({self.kind}, {self.source!r})"


#: what the workflow functions accept: the parsed model, or what it is parsed from
WorkflowLike = ParsedWorkflow | Workflow | dict[str, Any]

__all__ = ["Kind", "ParsedWorkflow", "WorkflowLike", "is_ui"]
