"""JSON Schemas of the workflow formats (shipped as package data) and validation.

The JSON Schema is the validation at the edge (structure, with the exact place of the
first problem, e.g. ``nodes[3].widgets_values``); the rules a schema cannot say (duplicate
node ids, link shapes) are checked when the loader builds the workflow's graph
(:mod:`..parsed`). Callers get one :class:`WorkflowError` with one line; never a traceback.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ...errors import WorkflowError

SCHEMA_FILES = {"ui": "ui_workflow.schema.json", "api": "api_prompt.schema.json"}


@cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema for ``ui`` or ``api``."""
    text = resources.files(__name__).joinpath(SCHEMA_FILES[kind]).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _inline_refs(node: Any, root: dict[str, Any]) -> Any:
    """Replace local ``$ref``s by their targets (our schemas are not recursive).

    jsonschema resolves references through the ``referencing`` library on every use,
    which made validating a large workflow ~10x slower than the inlined schema.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline_refs({**target, **rest}, root)
        return {k: (v if k == "$defs" else _inline_refs(v, root)) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, root) for v in node]
    return node


@cache
def _validator(kind: str) -> Draft202012Validator:
    s = schema(kind)
    return Draft202012Validator(_inline_refs(s, s))


def json_path(parts: Iterable[Any]) -> str:
    """``["nodes", 3, "widgets_values"]`` → ``nodes[3].widgets_values``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(type(v), type(v).__name__)


def _describe(err: ValidationError) -> str:
    v = err.validator
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"expected {want}, got {_json_type(err.instance)}"
    if v == "required":
        missing = [k for k in err.validator_value if isinstance(err.instance, dict) and k not in err.instance]
        return f"missing {', '.join(repr(m) for m in missing) or 'a required field'}"
    if v == "minLength":
        return "must not be empty"
    if v == "minItems":
        return f"needs at least {err.validator_value} elements"
    if v == "maxItems":
        return f"has more than {err.validator_value} elements"
    if v == "minProperties":
        return "must not be empty"
    if v in ("anyOf", "oneOf"):
        return f"does not have any accepted shape (got {_json_type(err.instance)})"
    return str(err.message)[:200]


def _deepest(err: ValidationError) -> ValidationError:
    """For anyOf failures, the branch error that got furthest into the data."""
    if err.validator in ("anyOf", "oneOf") and err.context:
        typed = [e for e in err.context if e.validator != "type" or len(e.absolute_path) > len(err.absolute_path)]
        if typed:
            best = max(typed, key=lambda e: len(e.absolute_path))
            if len(best.absolute_path) > len(err.absolute_path):
                return _deepest(best)
    return err


def check(data: Any, kind: str, source: str) -> None:
    """Raise WorkflowError for the first schema violation (the one earliest in the document)."""
    errors = list(_validator(kind).iter_errors(data))
    if not errors:
        return
    err = _deepest(min(errors, key=lambda e: [str(p) for p in e.absolute_path]))
    raise WorkflowError(f"{source}: {json_path(err.absolute_path)}: {_describe(err)}")


def validate_ui(data: Any, source: str = "workflow") -> dict[str, Any]:
    """Return ``data`` if it is a valid UI workflow; else raise WorkflowError naming the place."""
    check(data, "ui", source)
    return data  # type: ignore[no-any-return]  # checked just above


def validate_api(data: Any, source: str = "workflow") -> dict[str, Any]:
    """Return ``data`` if it is a valid API prompt; else raise WorkflowError naming the place."""
    check(data, "api", source)
    return data  # type: ignore[no-any-return]  # checked just above


__all__ = ["check", "json_path", "schema", "validate_api", "validate_ui"]
