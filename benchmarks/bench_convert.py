"""Benchmark: converting a 300-node UI workflow to an API prompt (goal: well under 10 ms).

The workflow is built from our own fixture (tests/workflow/fixtures/features.workflow.json:
checkpoint, reroute, prompts, primitive, sampler, decode, bypassed and muted nodes, a
subgraph) tiled until it has 300 nodes, converted with the same small object_info: from
the raw dict (parsed on each call), and from the parsed model (parsed once).

    python -m benchmarks.bench_convert
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.common import pct, write_result
from comfy_backend.workflow import NodeDefs, ParsedWorkflow, to_api
from comfy_backend.workflow.formats import from_json

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "workflow" / "fixtures"


def tiled_workflow(n_nodes: int = 300) -> dict[str, Any]:
    base: dict[str, Any] = json.loads((FIXTURES / "features.workflow.json").read_text())
    out = copy.deepcopy(base)
    out["nodes"], out["links"] = [], []
    k = 0
    while len(out["nodes"]) < n_nodes:
        off, loff = 1000 * k, 1000 * k
        for n in copy.deepcopy(base["nodes"]):
            n["id"] += off
            for i in n.get("inputs") or []:
                if i.get("link") is not None:
                    i["link"] += loff
            for o in n.get("outputs") or []:
                if o.get("links"):
                    o["links"] = [x + loff for x in o["links"]]
            out["nodes"].append(n)
        for l in base["links"]:
            out["links"].append([l[0] + loff, l[1] + off, l[2], l[3] + off, l[4], l[5]])
        k += 1
    return out


def main(runs: int = 200) -> dict[str, Any]:
    wf = tiled_workflow()
    object_info = json.loads((FIXTURES / "mini_object_info.json").read_text())
    defs = NodeDefs(object_info)
    to_api(wf, defs)  # warm-up
    model = ParsedWorkflow.of(wf)
    cold, warm, parsed = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        to_api(wf, object_info)          # fresh NodeDefs each time (layouts recomputed)
        cold.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        prompt = to_api(wf, defs)        # NodeDefs reused (what the runtime does per server)
        warm.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        to_api(model, defs)              # parsed once, as loaded files are (the graph is cached)
        parsed.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    from_json(wf, "bench")
    load_ms = (time.perf_counter() - t) * 1000
    result = {
        "nodes": len(wf["nodes"]), "links": len(wf["links"]), "prompt_nodes": len(prompt), "runs": runs,
        "convert_ms_median": round(median(warm), 3), "convert_ms_p95": round(pct(warm, 0.95), 3),
        "convert_fresh_object_info_ms_median": round(median(cold), 3),
        "convert_parsed_ms_median": round(median(parsed), 3),
        "validate_load_ms": round(load_ms, 3), "goal_ms": 10,
    }
    path = write_result("convert", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    main()
