"""Suggestion rate on the shared corpus: how often the usual knobs of an SD-style workflow are suggested.

An SD-style workflow is a UI workflow of the corpus (``ui/`` and the UI halves of
``pairs/``) with a sampler node (KSampler, KSamplerAdvanced, SamplerCustom,
SamplerCustomAdvanced) at the top level or inside a subgraph definition. For each, the
knobs the workflow *has* are:

* ``positive``: a (not muted or bypassed) text encoder — a node whose definition outputs
  CONDITIONING and takes a STRING input — whose text is not left empty;
* ``seed`` / ``steps`` / ``cfg``: a settable field of that name (``noise_seed`` counts as seed).

A workflow counts as a hit when every knob it has is suggested (``positive_prompt``,
``seed``, ``steps``, ``cfg``). The object_info dump used is the one knowing most of the
workflow's node types. Also printed: how many UI files leak the 2023 seed toggle into
their converted prompt (issue 12 item 1).

    python -m tests.workflow.suggestion_report [--misses N]
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfy_backend.errors import WorkflowError
from comfy_backend.workflow import ConvertOptions, NodeDefs, list_fields, suggest, to_api
from comfy_backend.workflow.era import SEED_TOGGLE_NAME

from .corpus import CORPUS, object_infos

SAMPLERS = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})
KNOBS = ("positive", "seed", "steps", "cfg")


def ui_files() -> list[Path]:
    """Every UI workflow of the corpus (empty when the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted([*(CORPUS / "ui").glob("*.json"), *(CORPUS / "pairs").glob("*.workflow.json")])


def _graphs(wf: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield wf
    defs = wf.get("definitions")
    subs = defs.get("subgraphs") if isinstance(defs, dict) else None
    for s in subs if isinstance(subs, list) else []:
        if isinstance(s, dict):
            yield s


def _nodes(wf: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for g in _graphs(wf):
        for n in g.get("nodes") or []:
            if isinstance(n, dict):
                yield n


def best_defs(wf: dict[str, Any]) -> NodeDefs:
    """The dump that knows the most node types of ``wf``."""
    types = {n.get("type") for n in _nodes(wf)}
    return max(object_infos().values(), key=lambda d: sum(1 for t in types if t in d))


def _is_text_encoder(defs: NodeDefs, node_type: str) -> bool:
    return (node_type in defs and any(t == "CONDITIONING" for _n, t in defs.outputs(node_type))
            and any(d.type == "STRING" for d in defs.inputs(node_type)))


def knobs_present(wf: dict[str, Any], defs: NodeDefs, fields: list[Any]) -> set[str]:
    """The usual knobs this workflow has (see the module docstring)."""
    have: set[str] = set()
    for n in _nodes(wf):
        if n.get("mode") in (2, 4) or not _is_text_encoder(defs, str(n.get("type"))):
            continue
        have.add("positive")
    names = {f.input_name for f in fields}
    if names & {"seed", "noise_seed"}:
        have.add("seed")
    have |= names & {"steps", "cfg"}
    return have


def knobs_suggested(params: list[Any]) -> set[str]:
    ids = {p.id for p in params}
    out = {k for k in ("seed", "steps", "cfg") if k in ids}
    if any(i.startswith("positive_prompt") for i in ids):
        out.add("positive")
    return out


@dataclass
class Report:
    considered: int = 0
    hits: int = 0
    errors: list[str] = field(default_factory=list)
    misses: list[tuple[str, list[str]]] = field(default_factory=list)
    missing: Counter[str] = field(default_factory=Counter)
    toggle_leaks: list[str] = field(default_factory=list)
    ui_converted: int = 0


def report() -> Report:
    """Compute the suggestion rate (and the seed-toggle leak count) over the corpus."""
    r = Report()
    for path in ui_files():
        wf = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(wf, dict) or not isinstance(wf.get("nodes"), list):
            continue
        defs = best_defs(wf)
        try:
            prompt = to_api(wf, defs, ConvertOptions(unknown_nodes="keep", dynamic_prompts=False))
            r.ui_converted += 1
            if any(SEED_TOGGLE_NAME in (n.get("inputs") or {}) for n in prompt.values()):
                r.toggle_leaks.append(path.name)
        except WorkflowError:
            pass  # conversion failures are test_corpus's business; suggestions are still measured
        if not any(n.get("type") in SAMPLERS and n.get("mode") not in (2, 4) for n in _nodes(wf)):
            continue
        try:
            fields = list_fields(wf, defs)
            params = suggest(wf, defs, fields=fields)
        except WorkflowError as exc:
            r.errors.append(f"{path.name}: {exc}")
            continue
        r.considered += 1
        lacking = sorted(knobs_present(wf, defs, fields) - knobs_suggested(params))
        if lacking:
            r.misses.append((path.name, lacking))
            r.missing.update(lacking)
        else:
            r.hits += 1
    return r


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a report for humans
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--misses", type=int, default=20, help="how many misses to list")
    args = ap.parse_args(argv)
    r = report()
    print(f"suggestion rate: {r.hits}/{r.considered} = {100 * r.hits / max(r.considered, 1):.1f}% "
          f"(SD-style UI workflows with prompt, seed, steps and cfg all suggested where present)")
    print(f"missing knobs: {dict(r.missing)}; errors: {len(r.errors)}")
    print(f"seed toggle leaks: {len(r.toggle_leaks)} of {r.ui_converted} converted UI files")
    for name in r.toggle_leaks[:args.misses]:
        print(f"  toggle: {name}")
    for name, lacking in r.misses[:args.misses]:
        print(f"  miss: {name}: {', '.join(lacking)}")
    for e in r.errors[:args.misses]:
        print(f"  error: {e}")


if __name__ == "__main__":  # pragma: no cover
    main()
