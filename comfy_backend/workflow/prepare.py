"""From a run request to the API prompt for one server: the one prepare step.

:func:`prepare` takes a :class:`~comfy_backend.requests.RunRequest` and the node
definitions of the server that will run it, and

1. converts a UI workflow to an API prompt with those definitions (``convert.to_api``);
2. checks every value against that server's constraints (type, range, choices), naming
   the field by its label (``parameter 'Blur radius': 40 is above the maximum 31``);
3. draws the random seeds (``seeds.random_seed``, within each field's bounds);
4. writes values and seeds (``patch.apply_values``);
5. keeps only the nodes the wanted outputs need.

The orchestrator calls it once on the caller's thread to check a request before it is
queued, and again for each server a job is sent to.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import WorkflowError
from ..requests import RunRequest, split_key
from .api_format import is_link
from .convert import to_api
from .formats import detect
from .params import Constraints, Field, check_value, list_fields
from .patch import apply_values
from .seeds import random_seed

__all__ = ["api_prompt", "draw_seeds", "prepare", "prepare_with_seeds", "prune_to_outputs"]


def api_prompt(workflow: Mapping[str, Any], object_info: dict[str, Any] | None) -> dict[str, Any]:
    """The API prompt of ``workflow``: as it is when it is one, converted when it is a UI workflow."""
    kind = detect(workflow)
    if kind == "ui":
        if object_info is None:
            raise WorkflowError("a UI-format workflow needs a server's node definitions to be converted")
        return to_api(dict(workflow), object_info)
    if kind == "api":
        inner = workflow.get("prompt")
        if isinstance(inner, dict) and "class_type" not in workflow:
            return inner  # a POST /prompt body
        return dict(workflow)
    raise WorkflowError("not a ComfyUI workflow: neither an API prompt nor a UI workflow")


def _fields(prompt: dict[str, Any], object_info: dict[str, Any] | None) -> dict[tuple[str, str], Field]:
    """Fields of node types the server knows (types and bounds come only from its definitions)."""
    if not object_info:
        return {}
    return {(f.node_id, f.input_name): f for f in list_fields(prompt, object_info) if f.node_type in object_info}


def draw_seeds(keys: Iterable[str], prompt: dict[str, Any], object_info: dict[str, Any] | None,
               rng: random.Random | None = None) -> dict[str, int]:
    """A fresh random seed for each field key, within that field's bounds on this server."""
    return _draw(keys, _fields(prompt, object_info), rng)


def _draw(keys: Iterable[str], fields: dict[tuple[str, str], Field], rng: random.Random | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in keys:
        f = fields.get(split_key(key))
        c = f.constraints if f is not None else Constraints()
        out[key] = random_seed(c.min, c.max, rng)
    return out


def _checked(values: Mapping[str, Any], labels: Mapping[str, str],
             fields: dict[tuple[str, str], Field]) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for key, value in values.items():
        if value is None:
            continue  # no value given: the workflow's own stays
        where = split_key(key)
        f = fields.get(where)
        typ, c = (f.type, f.constraints) if f is not None else ("*", Constraints())
        out[where] = check_value(value, typ, c, f"parameter {labels.get(key, key)!r}")
    return out


def prune_to_outputs(prompt: dict[str, Any], output_ids: Iterable[str]) -> dict[str, Any]:
    """Only the nodes the given output nodes need (e.g. "Run preview" of one output)."""
    wanted = [str(o) for o in output_ids]
    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        nid = stack.pop()
        if nid in keep or nid not in prompt:
            continue
        keep.add(nid)
        for v in (prompt[nid].get("inputs") or {}).values():
            if is_link(v):
                stack.append(str(v[0]))
    if not keep:
        raise WorkflowError(f"no output node {', '.join(wanted)} in the workflow")
    return {k: copy.deepcopy(v) for k, v in prompt.items() if k in keep}


def prepare(request: RunRequest, object_info: dict[str, Any] | None) -> dict[str, Any]:
    """The API prompt that runs ``request`` on the server whose node definitions are ``object_info``.

    Raises ParameterError (naming the field by its label) when a value breaks that
    server's constraints, WorkflowError when the workflow cannot be used there.
    Without ``object_info`` (no definitions known) values are written unchecked and a
    UI workflow cannot be converted.
    """
    return prepare_with_seeds(request, object_info)[0]


def prepare_with_seeds(request: RunRequest, object_info: dict[str, Any] | None,
                       rng: random.Random | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """:func:`prepare`, also returning the random seeds it drew (field key → seed)."""
    prompt = api_prompt(request.workflow, object_info)
    seeds: dict[str, int] = {}
    if request.values or request.random_seeds:
        fields = _fields(prompt, object_info)
        values = _checked(request.values, request.labels, fields)
        seeds = _draw(request.random_seeds, fields, rng)
        values.update({split_key(k): v for k, v in seeds.items()})
        prompt = apply_values(prompt, values, object_info)
    if request.outputs:
        prompt = prune_to_outputs(prompt, request.outputs)
    return prompt, seeds
