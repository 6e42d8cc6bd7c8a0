"""Workflow files: load and validate (UI 0.4/1.0, API, PNG/WebP), list and expose
parameters, patch values, apply seed control, and convert UI workflows to API prompts."""
from .api_format import apply_assignments, check_api_prompt, load_api_prompt, parse_assignment, seed_inputs, vary_seed
from .convert import ConvertOptions, to_api
from .formats import WorkflowFile, from_json, load_bytes, load_workflow
from .nodedefs import NodeDefs
from .params import (
    Binding,
    Constraints,
    ExposedParameter,
    Field,
    ParameterError,
    Port,
    expose,
    list_fields,
    ports,
    rebind,
    rename,
    suggest,
    unexpose,
    values_for,
)
from .patch import apply_seed_control, apply_values, next_value, seed_controls

__all__ = [
    "Binding",
    "Constraints",
    "ConvertOptions",
    "ExposedParameter",
    "Field",
    "NodeDefs",
    "ParameterError",
    "Port",
    "WorkflowFile",
    "apply_assignments",
    "apply_seed_control",
    "apply_values",
    "check_api_prompt",
    "expose",
    "from_json",
    "list_fields",
    "load_api_prompt",
    "load_bytes",
    "load_workflow",
    "next_value",
    "parse_assignment",
    "ports",
    "rebind",
    "rename",
    "seed_controls",
    "seed_inputs",
    "suggest",
    "to_api",
    "unexpose",
    "values_for",
    "vary_seed",
]
