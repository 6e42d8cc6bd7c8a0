"""Access to the shared workflow corpus (``../shared/workflows``), never copied into the repo.

The corpus lies beside the repo in CI. Where it does not (a fresh clone), every test that
needs it is skipped with the one reason ``CORPUS_MISSING``; nothing here reads it at import.
"""
from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from comfy_backend.workflow.nodedefs import NodeDefs
from comfy_backend.workflow.patch import seed_controls

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "workflows"
CAPTURE_OBJECT_INFO = SHARED / "reference" / "captures" / "backend-0.3.75" / "object_info_full.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

CORPUS_MISSING = f"shared workflow corpus not found at {CORPUS} (it lies beside the repo in CI)"

#: Mark for every test that reads the corpus. Also given to parametrized tests whose
#: parameter list comes from the corpus: pytest reports this skip, not "empty parameter set".
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=CORPUS_MISSING)


@cache
def object_infos() -> dict[str, NodeDefs]:
    """Every object_info dump of the corpus plus the 0.3.75 capture, by file name."""
    out: dict[str, NodeDefs] = {}
    files = [*sorted((CORPUS / "object_info").glob("*.object_info.json")), CAPTURE_OBJECT_INFO]
    for f in files:
        if f.is_file():
            out[f.name] = NodeDefs(json.loads(f.read_text(encoding="utf-8")))
    return out


def pair_names() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name[: -len(".prompt.json")] for p in (CORPUS / "pairs").glob("*.prompt.json"))


def load_pair(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    d = CORPUS / "pairs"
    return (json.loads((d / f"{name}.workflow.json").read_text(encoding="utf-8")),
            json.loads((d / f"{name}.prompt.json").read_text(encoding="utf-8")))


def best_object_info(workflow: dict[str, Any], prompt: dict[str, Any]) -> tuple[str, NodeDefs] | None:
    """The dump that knows every class of the prompt and whose widget layouts fit the most nodes."""
    classes = {n.get("class_type") for n in prompt.values() if isinstance(n, dict)}
    cands = [(k, d) for k, d in object_infos().items() if all(c in d for c in classes)]
    if not cands:
        return None

    def score(item: tuple[str, NodeDefs]) -> int:
        defs = item[1]
        s = 0
        for n in workflow.get("nodes") or []:
            wv = n.get("widgets_values")
            if isinstance(wv, list) and n.get("type") in defs and len(defs.layout(n["type"])) == len(wv):
                s += 1
        return s

    return max(cands, key=score)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def differences(workflow: dict[str, Any], expected: dict[str, Any], got: dict[str, Any], defs: NodeDefs) -> list[str]:
    """Every difference, ignoring ``_meta`` and seeds whose control is not ``fixed``."""
    skip = {k for k, mode in seed_controls(workflow, defs).items() if mode != "fixed"}
    # the early-2023 boolean toggle: any seed next to it re-rolls
    out: list[str] = []
    for nid in sorted(set(expected) | set(got), key=str):
        if nid not in got:
            out.append(f"node {nid} ({expected[nid].get('class_type')}) missing")
            continue
        if nid not in expected:
            out.append(f"node {nid} ({got[nid].get('class_type')}) not expected")
            continue
        a, b = expected[nid].get("inputs", {}), got[nid].get("inputs", {})
        if expected[nid].get("class_type") != got[nid].get("class_type"):
            out.append(f"node {nid}: class {got[nid].get('class_type')} != {expected[nid].get('class_type')}")
        for name in sorted(set(a) | set(b)):
            if (nid, name) in skip:
                continue
            va, vb = a.get(name, "<absent>"), b.get(name, "<absent>")
            if not _same(va, vb):
                out.append(f"{nid}.{name}: expected {json.dumps(va)[:50]}, got {json.dumps(vb)[:50]}")
    return out
