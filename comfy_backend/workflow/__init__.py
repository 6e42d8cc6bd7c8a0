"""Workflow files: load and validate (UI 0.4/1.0, API, PNG/WebP) into one parsed model
(:class:`ParsedWorkflow`), list and expose parameters, patch values, apply seed control,
and convert UI workflows to API prompts. Every function takes the parsed model, or a raw
dict that it parses once."""
from .api_format import (
    SEED_INPUTS,
    apply_assignments,
    check_api_prompt,
    is_link,
    load_api_prompt,
    parse_assignment,
    seed_inputs,
    vary_seed,
)
from .convert import ConvertOptions, to_api
from .formats import WorkflowFile, detect, from_json, load_bytes, load_workflow, parse_json_text
from .nodedefs import NodeDefs
from .params import (
    Binding,
    Constraints,
    ExposedParameter,
    Field,
    ParameterError,
    Port,
    check_value,
    expose,
    list_fields,
    rebind,
    rename,
    unexpose,
    values_for,
)
from .parsed import Kind, ParsedWorkflow, WorkflowLike
from .patch import apply_seed_control, apply_values, next_value, seed_controls
from .seeds import SEED_MAX, random_seed, wrap_seed
from .suggest import ports, suggest

__all__ = [
    "SEED_INPUTS",
    "SEED_MAX",
    "Binding",
    "Constraints",
    "ConvertOptions",
    "ExposedParameter",
    "Field",
    "Kind",
    "NodeDefs",
    "ParameterError",
    "ParsedWorkflow",
    "Port",
    "WorkflowFile",
    "WorkflowLike",
    "apply_assignments",
    "apply_seed_control",
    "apply_values",
    "check_api_prompt",
    "check_value",
    "detect",
    "expose",
    "from_json",
    "is_link",
    "list_fields",
    "load_api_prompt",
    "load_bytes",
    "load_workflow",
    "next_value",
    "parse_assignment",
    "parse_json_text",
    "ports",
    "random_seed",
    "rebind",
    "rename",
    "seed_controls",
    "seed_inputs",
    "suggest",
    "to_api",
    "unexpose",
    "values_for",
    "vary_seed",
    "wrap_seed",
]
