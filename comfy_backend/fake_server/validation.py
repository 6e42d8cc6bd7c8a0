"""Prompt validation with the exact error shapes of ComfyUI 0.3.75 (`execution.validate_prompt`).

The algorithm follows the real one step by step so that `node_errors`,
`dependent_outputs` and the top-level `details` come out the same way; only the
iteration order is made deterministic (inputs in `input_order`, outputs sorted by id)
where the real server iterates a set.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog

#: Nodes that have a VALIDATE_INPUTS(image) checking the input folder.
_FILE_VALIDATED = {"LoadImage": "image", "LoadImageMask": "image"}

_FAKE_TB = '  File "<fake-comfyui>/execution.py", line {line}, in {func}\n    {code}\n'


def _fake_traceback(*frames: tuple[int, str, str]) -> list[str]:
    return [_FAKE_TB.format(line=l, func=f, code=c) for l, f, c in frames]


def _full_type_name(exc: BaseException) -> str:
    t = type(exc)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _error(type_: str, message: str, details: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": extra or {}}


def node_sort_key(node_id: str) -> tuple[Any, ...]:
    """Sort node ids numerically where possible ("2" < "10"), then as text."""
    try:
        return (0, int(node_id), "")
    except (TypeError, ValueError):
        return (1, 0, str(node_id))


def types_match(received: Any, expected: Any) -> bool:
    """`comfy_execution.validation.validate_node_input`, with "*" as the any-type."""
    if received == expected or received == "*" or expected == "*":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    r = {t.strip() for t in received.split(",")}
    e = {t.strip() for t in expected.split(",")}
    return bool(r & e)


@dataclass
class ValidationResult:
    ok: bool
    error: dict[str, Any] | None
    outputs: list[str]
    node_errors: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Validator:
    def __init__(self, prompt: dict[str, Any], catalog: Catalog, file_exists: Callable[[str], bool]):
        self.prompt = prompt
        self.catalog = catalog
        self.file_exists = file_exists
        self.validated: dict[str, tuple[bool, list[Any], str]] = {}

    def validate_inputs(self, unique_id: str) -> tuple[bool, list[Any], str]:
        if unique_id in self.validated:
            return self.validated[unique_id]
        node = self.prompt[unique_id]
        inputs = node["inputs"]
        class_type = node["class_type"]
        errors: list[dict[str, Any]] = []
        valid = True
        custom_input = _FILE_VALIDATED.get(class_type)

        for x, category, spec in self.catalog.inputs(class_type):
            input_type = spec[0]
            extra_info = spec[1] if len(spec) > 1 else {}
            if x not in inputs:
                if category == "required":
                    errors.append(_error("required_input_missing", "Required input is missing",
                                         f"{x}", {"input_name": x}))
                continue
            val = inputs[x]
            info = [input_type, extra_info]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(_error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        f"{x}", {"input_name": x, "input_config": info, "received_value": val}))
                    continue
                o_id = val[0]
                o_class_type = self.prompt[o_id]["class_type"]  # KeyError as in the real server
                received_type = self.catalog.return_types(o_class_type)[val[1]]
                if not types_match(received_type, input_type):
                    errors.append(_error(
                        "return_type_mismatch", "Return type mismatch between linked nodes",
                        f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                        {"input_name": x, "input_config": info, "received_type": received_type,
                         "linked_node": val}))
                    continue
                try:
                    r = self.validate_inputs(o_id)
                    if r[0] is False:
                        valid = False
                        continue
                except Exception as ex:  # mirrors exception_during_inner_validation
                    valid = False
                    self.validated[o_id] = (False, [_error(
                        "exception_during_inner_validation", "Exception when validating inner node",
                        str(ex), {"input_name": x, "input_config": info, "exception_message": str(ex),
                                  "exception_type": _full_type_name(ex),
                                  "traceback": _fake_traceback((802, "validate_inputs",
                                                                "o_class_type = prompt[o_id]['class_type']")),
                                  "linked_node": val})], o_id)
                    continue
            else:
                try:
                    if isinstance(val, dict) and "__value__" in val:
                        val = val["__value__"]
                        inputs[x] = val
                    if input_type == "INT":
                        val = int(val)
                        inputs[x] = val
                    if input_type == "FLOAT":
                        val = float(val)
                        inputs[x] = val
                    if input_type == "STRING":
                        val = str(val)
                        inputs[x] = val
                    if input_type == "BOOLEAN":
                        val = bool(val)
                        inputs[x] = val
                except Exception as ex:
                    errors.append(_error(
                        "invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                        f"{x}, {val}, {ex}",
                        {"input_name": x, "input_config": info, "received_value": val,
                         "exception_message": str(ex)}))
                    continue
                if x == custom_input:
                    continue
                err = self._check_value(x, val, input_type, extra_info, info)
                if err is not None:
                    errors.append(err)
                    continue

        if custom_input and custom_input in inputs and not isinstance(inputs[custom_input], list):
            image = inputs[custom_input]
            if not self.file_exists(str(image)):
                errors.append(_error("custom_validation_failed", "Custom validation failed for node",
                                     f"{custom_input} - Invalid image file: {image}",
                                     {"input_name": custom_input}))

        ret = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
        self.validated[unique_id] = ret
        return ret

    @staticmethod
    def _check_value(x: str, val: Any, input_type: Any, extra_info: dict[str, Any], info: list[Any]) -> dict[str, Any] | None:
        if "min" in extra_info and val < extra_info["min"]:
            return _error("value_smaller_than_min",
                          "Value {} smaller than min of {}".format(val, extra_info["min"]),
                          f"{x}", {"input_name": x, "input_config": info, "received_value": val})
        if "max" in extra_info and val > extra_info["max"]:
            return _error("value_bigger_than_max",
                          "Value {} bigger than max of {}".format(val, extra_info["max"]),
                          f"{x}", {"input_name": x, "input_config": info, "received_value": val})
        if isinstance(input_type, list) and val not in input_type:
            input_config: Any = info
            if len(input_type) > 20:
                list_info = f"(list of length {len(input_type)})"
                input_config = None
            else:
                list_info = str(input_type)
            return _error("value_not_in_list", "Value not in list", f"{x}: '{val}' not in {list_info}",
                          {"input_name": x, "input_config": input_config, "received_value": val})
        return None


def validate_prompt(prompt: dict[str, Any], catalog: Catalog, *, partial_targets: list[str] | None = None,
                    file_exists: Callable[[str], bool] = lambda name: False) -> ValidationResult:
    """Validate an API prompt like ComfyUI 0.3.75; converts widget values in place.

    `file_exists(name)` answers LoadImage's check of the input folder
    (`name` may carry a subfolder and an ` [output]`-style annotation).
    """
    outputs: set[str] = set()
    for x in prompt:
        node = prompt[x]
        if "class_type" not in node:
            return ValidationResult(False, _error(
                "invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{x}'"), [], {})
        class_type = node["class_type"]
        if class_type not in catalog:
            return ValidationResult(False, _error(
                "invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{x}'"), [], {})
        if catalog.is_output_node(class_type) and (partial_targets is None or x in partial_targets):
            outputs.add(x)
    if not outputs:
        return ValidationResult(False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {})

    v = _Validator(prompt, catalog, file_exists)
    good: list[str] = []
    failed: list[tuple[str, list[Any]]] = []
    node_errors: dict[str, dict[str, Any]] = {}
    for o in sorted(outputs, key=node_sort_key):
        try:
            valid, reasons, _ = v.validate_inputs(o)
        except Exception as ex:
            valid = False
            reasons = [_error("exception_during_validation", "Exception when validating node", str(ex),
                              {"exception_type": _full_type_name(ex),
                               "traceback": _fake_traceback(
                                   (1024, "validate_prompt", "m = await validate_inputs(prompt_id, prompt, o, validated)"),
                                   (802, "validate_inputs", "o_class_type = prompt[o_id]['class_type']"))})]
            v.validated[o] = (False, reasons, o)
        if valid is True:
            good.append(o)
            continue
        failed.append((o, reasons))
        for node_id, (ok, node_reasons, _) in v.validated.items():
            if ok is not True and node_reasons:
                if node_id not in node_errors:
                    node_errors[node_id] = {"errors": node_reasons, "dependent_outputs": [],
                                            "class_type": prompt[node_id]["class_type"]}
                node_errors[node_id]["dependent_outputs"].append(o)

    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errs in failed for e in errs)
        return ValidationResult(False, _error("prompt_outputs_failed_validation",
                                              "Prompt outputs failed validation", details),
                                [], node_errors)
    return ValidationResult(True, None, good, node_errors)
