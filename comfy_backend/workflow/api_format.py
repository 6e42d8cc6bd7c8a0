"""API-format prompts: load, check their shape, patch values, vary seeds.

An API prompt is ``{node_id: {"class_type": str, "inputs": {name: value | [node_id, slot]}}}``.
"""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from ..errors import WorkflowError
from .seeds import random_seed, wrap_seed

SEED_INPUTS = ("seed", "noise_seed")


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def check_api_prompt(data: Any, source: str = "workflow") -> dict[str, Any]:
    """Return the prompt if ``data`` is an API-format prompt; else raise WorkflowError naming the place."""
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data:
        data = data["prompt"]  # a POST /prompt body
    if not isinstance(data, dict):
        raise WorkflowError(f"{source}: expected a JSON object of nodes, got {type(data).__name__}")
    if "nodes" in data and "links" in data:
        raise WorkflowError(f"{source}: this is a UI-format workflow; an API-format prompt is needed here")
    if not data:
        raise WorkflowError(f"{source}: the workflow has no nodes")
    for nid, node in data.items():
        if not isinstance(node, dict):
            raise WorkflowError(f"{source}: [{nid!r}] must be an object with class_type and inputs")
        if not isinstance(node.get("class_type"), str) or not node["class_type"]:
            raise WorkflowError(f"{source}: [{nid!r}].class_type is missing")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            raise WorkflowError(f"{source}: [{nid!r}].inputs must be an object")
        for name, value in inputs.items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and str(value[0]) not in data:
                raise WorkflowError(f"{source}: [{nid!r}].inputs.{name} links to node {value[0]!r}, which does not exist")
    return data


def load_api_prompt(path: str | Path) -> dict[str, Any]:
    """Read an API-format prompt from a JSON file."""
    p = Path(path)
    if not p.is_file():
        raise WorkflowError(f"{p}: workflow file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise WorkflowError(f"{p}: not a text JSON file") from None
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{p}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return check_api_prompt(data, str(p))


def parse_assignment(expr: str) -> tuple[str, str, Any]:
    """``NODE_ID.INPUT=VALUE`` → (node_id, input, value). VALUE is JSON if it parses, else a string."""
    if "=" not in expr:
        raise WorkflowError(f"--set {expr!r}: expected NODE_ID.INPUT=VALUE")
    lhs, raw = expr.split("=", 1)
    if "." not in lhs:
        raise WorkflowError(f"--set {expr!r}: expected NODE_ID.INPUT=VALUE")
    node_id, name = lhs.split(".", 1)
    if not node_id or not name:
        raise WorkflowError(f"--set {expr!r}: expected NODE_ID.INPUT=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return node_id, name, value


def apply_assignments(prompt: dict[str, Any], assignments: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """A copy of ``prompt`` with the values set; unknown nodes or inputs are errors (typos)."""
    out = copy.deepcopy(prompt)
    for node_id, name, value in assignments:
        node = out.get(node_id)
        if node is None:
            raise WorkflowError(f"--set {node_id}.{name}: no node {node_id!r} (nodes: {', '.join(sorted(out, key=str)[:20])})")
        inputs = node.setdefault("inputs", {})
        if name not in inputs:
            raise WorkflowError(
                f"--set {node_id}.{name}: node {node_id} ({node.get('class_type')}) has no input {name!r}"
                f" (inputs: {', '.join(sorted(inputs)) or 'none'})"
            )
        if is_link(inputs[name]):
            raise WorkflowError(f"--set {node_id}.{name}: that input is linked to another node, not a value")
        inputs[name] = value
    return out


def seed_inputs(prompt: dict[str, Any]) -> list[tuple[str, str]]:
    """(node_id, input) of every literal integer seed in the prompt."""
    found = []
    for nid, node in prompt.items():
        for name in SEED_INPUTS:
            v = (node.get("inputs") or {}).get(name)
            if isinstance(v, int) and not isinstance(v, bool):
                found.append((str(nid), name))
    return found


def vary_seed(prompt: dict[str, Any], index: int, *, randomize: bool = False, rng: random.Random | None = None) -> dict[str, Any]:
    """A copy with each seed input moved by ``index`` (wrapping at 2^64) or drawn at random
    (:func:`~.seeds.random_seed`, the one seed rule); run 0 keeps the original seeds."""
    if index == 0 and not randomize:
        return prompt
    out = copy.deepcopy(prompt)
    for nid, name in seed_inputs(out):
        inputs = out[nid]["inputs"]
        inputs[name] = random_seed(rng=rng) if randomize else wrap_seed(inputs[name] + index)
    return out
