"""Which text is the positive and which the negative prompt: found along the conditioning.

The roles come from where a text's conditioning ends, never from titles. The walk runs on
the API prompt (a UI workflow is converted first, so reroutes, bypassed nodes, primitive
values and subgraph boundaries are already resolved and inner nodes carry their
``outer:inner`` ids, the same ids :func:`~.params.list_fields` gives their fields). It starts
at every *consumer* of conditioning — a node with CONDITIONING inputs and no CONDITIONING
output: samplers, guiders (CFGGuider, BasicGuider, DualCFGGuider), detailers — and goes
upstream:

* through any node that takes and returns CONDITIONING (FluxGuidance, ControlNetApply,
  ConditioningCombine / Concat / SetArea, style-model and unCLIP nodes, custom ones), by
  the types in the server's node definitions; a node with ``positive`` and ``negative``
  outputs (ControlNetApplyAdvanced, InstructPixToPixConditioning) is followed through the
  input named like the output that was reached;
* to a text encoder (a node with a STRING input that outputs CONDITIONING: CLIPTextEncode
  and its SDXL/Flux/SD3/Hunyuan variants, custom ones), and from it up STRING links to the
  nodes whose text ends there (string primitives, text nodes);
* not through ``ConditioningZeroOut``: a zeroed-out conditioning carries no prompt.

The role is the consumer's input: ``negative`` when its name says so, else ``positive``
(``positive``, ``cond1``/``cond2``, a guider's ``conditioning``). Without node definitions
nothing is typed, and only text nodes that feed a ``positive``/``negative`` input directly
(through reroutes) are found.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..errors import WorkflowError
from .api_format import is_link
from .convert import ConvertOptions, to_api
from .graph import PASS_THROUGH_TYPES, Workflow
from .nodedefs import NodeDefs
from .parsed import ParsedWorkflow, WorkflowLike

COND = "CONDITIONING"
_ROLE_INPUTS = ("positive", "negative")
_MAX_WALK = 10_000   # node visits per workflow: bounds a malformed (cyclic) prompt


def prompt_roles(workflow: WorkflowLike, object_info: NodeDefs | dict[str, Any] | None = None) -> dict[str, str]:
    """node id → ``positive``/``negative`` for the nodes holding prompt text (ids as in ``list_fields``)."""
    model = ParsedWorkflow.of(workflow)
    defs = NodeDefs.of(object_info)
    if next(defs.classes(), None) is None:
        return _direct_roles(model)
    if model.is_ui:
        try:
            prompt = to_api(model, defs, ConvertOptions(unknown_nodes="keep", dynamic_prompts=False,
                                                        text_replacements=False))
        except WorkflowError:
            return _direct_roles(model)  # e.g. a group node without its definition: list_fields copes, so do we
    else:
        prompt = model.raw
    roles = _Walk(prompt, defs).run()
    if model.is_ui:
        for key, role in _primitive_roles(model.graph, roles).items():
            roles.setdefault(key, role)
    return roles


class _Walk:
    def __init__(self, prompt: dict[str, Any], defs: NodeDefs) -> None:
        self.prompt, self.defs = prompt, defs
        self.roles: dict[str, str] = {}
        self.budget = _MAX_WALK

    def _inputs(self, nid: str) -> tuple[str, dict[str, Any]]:
        node = self.prompt.get(nid)
        if not isinstance(node, dict):
            return "", {}
        inputs = node.get("inputs")
        return str(node.get("class_type")), inputs if isinstance(inputs, dict) else {}

    def _type(self, ct: str, name: str, value: Any) -> str | None:
        """The input's type from the definitions; for unknown classes a guess from its name or value."""
        if ct in self.defs:
            d = self.defs.input(ct, name)
            return d.type if d is not None else None
        if is_link(value):
            return COND if ("cond" in name.lower() or name in _ROLE_INPUTS) else None
        return "STRING" if isinstance(value, str) else None

    def _outputs(self, ct: str) -> list[tuple[str, str]]:
        return self.defs.outputs(ct) if ct in self.defs else []

    def run(self) -> dict[str, str]:
        for nid in self.prompt:
            ct, inputs = self._inputs(nid)
            if any(t == COND for _n, t in self._outputs(ct)):
                continue  # passes conditioning on: reached from its consumer
            if ct not in self.defs and not any(n in inputs for n in _ROLE_INPUTS):
                continue
            for name, v in inputs.items():
                if is_link(v) and self._type(ct, name, v) == COND:
                    self._upstream(str(v[0]), int(v[1]), "negative" if "neg" in name.lower() else "positive")
        return self.roles

    def _upstream(self, start: str, slot: int, role: str) -> None:
        stack, seen = [(start, slot)], set()
        while stack and self.budget > 0:
            self.budget -= 1
            nid, out_slot = stack.pop()
            if (nid, out_slot) in seen:
                continue
            seen.add((nid, out_slot))
            ct, inputs = self._inputs(nid)
            if not ct or "ZeroOut" in ct:
                continue
            typed = {name: (v, self._type(ct, name, v)) for name, v in inputs.items()}
            strings = [(n, v) for n, (v, t) in typed.items() if t == "STRING"]
            if strings:
                self.roles.setdefault(nid, role)
                self._text_sources([v for _n, v in strings if is_link(v)], role)
                continue
            conds = {n: v for n, (v, t) in typed.items() if t == COND and is_link(v)}
            outs = self._outputs(ct)
            out_name = outs[out_slot][0].lower() if out_slot < len(outs) else ""
            follow = [conds[out_name]] if out_name in conds else list(conds.values())
            stack.extend((str(v[0]), int(v[1])) for v in follow)

    def _text_sources(self, links: list[Any], role: str) -> None:
        """Nodes whose STRING output ends in a text encoder's text: they hold the prompt text."""
        stack = [str(v[0]) for v in links]
        seen: set[str] = set()
        while stack and self.budget > 0:
            self.budget -= 1
            nid = stack.pop()
            if nid in seen:
                continue
            seen.add(nid)
            ct, inputs = self._inputs(nid)
            strings = [v for name, v in inputs.items() if self._type(ct, name, v) == "STRING"
                       or (is_link(v) and ct in self.defs and self._link_type(v) == "STRING")]
            if any(isinstance(v, str) for v in strings):
                self.roles.setdefault(nid, role)
            stack.extend(str(v[0]) for v in strings if is_link(v))

    def _link_type(self, link: Any) -> str | None:
        ct, _ = self._inputs(str(link[0]))
        outs = self._outputs(ct)
        return outs[int(link[1])][1] if int(link[1]) < len(outs) else None


def _primitive_roles(g: Workflow, roles: dict[str, str]) -> dict[str, str]:
    """PrimitiveNodes of the root graph whose value goes into a node with a role (their value is its text)."""
    out: dict[str, str] = {}
    down: dict[str, list[str]] = defaultdict(list)
    for link in g.root.links.values():
        down[link.origin_id].append(link.target_id)
    for node in g.root.nodes.values():
        if node.type != "PrimitiveNode":
            continue
        stack, seen = list(down.get(node.key, [])), set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            target = g.root.nodes.get(t)
            if target is not None and target.type in PASS_THROUGH_TYPES:
                stack.extend(down.get(t, []))
            elif t in roles:
                out[node.key] = roles[t]
                break
    return out


def _direct_roles(model: ParsedWorkflow) -> dict[str, str]:
    """Without node definitions: text nodes feeding a ``positive``/``negative`` input (through reroutes)."""
    down: dict[str, list[tuple[str, str]]] = defaultdict(list)
    types: dict[str, str] = {}
    if model.is_ui:
        g = model.graph.root
        for n in g.nodes.values():
            types[n.key] = n.type
        for link in g.links.values():
            t = g.nodes.get(link.target_id)
            if t is not None and link.target_slot < len(t.inputs):
                down[link.origin_id].append((link.target_id, str(t.inputs[link.target_slot].get("name"))))
    else:
        for nid, n in model.raw.items():
            if isinstance(n, dict):
                types[str(nid)] = str(n.get("class_type"))
                for name, v in (n.get("inputs") or {}).items():
                    if is_link(v):
                        down[str(v[0])].append((str(nid), name))
    roles: dict[str, str] = {}
    for start in types:
        frontier, seen = [start], {start}
        while frontier and start not in roles:
            nxt = []
            for nid in frontier:
                for target, name in down.get(nid, []):
                    if name in _ROLE_INPUTS:
                        roles.setdefault(start, name)
                    elif target not in seen and types.get(target) in PASS_THROUGH_TYPES:
                        seen.add(target)
                        nxt.append(target)
            frontier = nxt
    return roles
