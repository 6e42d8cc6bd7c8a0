"""Embedded editor: time to the workflow shown, and push + pull of a 300-node workflow.

For each server (default: the local shared server with frontend 1.32.9 on 18188, and the
1.58.1 instance the bridge tests keep on 18191): a new page is started and the sample workflow
pushed ("Edit in ComfyUI" → workflow shown); then, with the page ready, a 300-node workflow is
pushed and pulled (serialize + graphToPrompt + re-binding) ``--repeat`` times. Goal: push + pull
under 1 s. Offscreen, software rendering. Writes ``benchmarks/results/bridge.json``.

    .venv/bin/python -m benchmarks.bench_bridge [--servers URL ...] [--repeat N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from benchmarks.common import write_result
from comfy_backend import ServerConfig
from comfy_backend.workflow import expose, list_fields
from editor_bridge import EditorPage, ensure_app, pull, push, wait

NODES = 300
GOAL_S = 1.0


def big_workflow(nodes: int = NODES) -> dict[str, Any]:
    """``nodes`` core nodes in chains SolidMask → MaskToImage → ImageInvert, laid out in a grid."""
    out: list[dict[str, Any]] = []
    links: list[list[Any]] = []
    nid = lid = 0
    while nid + 3 <= nodes:
        chain = [("SolidMask", [], [("MASK", "MASK")], [0.5, 64, 64]),
                 ("MaskToImage", [("mask", "MASK")], [("IMAGE", "IMAGE")], []),
                 ("ImageInvert", [("image", "IMAGE")], [("IMAGE", "IMAGE")], [])]
        for k, (typ, ins, outs, wv) in enumerate(chain):
            nid += 1
            inputs = []
            for name, t in ins:
                inputs.append({"name": name, "type": t, "link": lid})   # the link made by the previous node
            outputs = [{"name": n, "type": t, "links": [lid + 1] if k < 2 else []} for n, t in outs]
            if k < 2:
                lid += 1
                links.append([lid, nid, 0, nid + 1, 0, outs[0][1]])
            col, row = divmod(nid - 1, 30)
            out.append({"id": nid, "type": typ, "pos": [col * 340, row * 140], "size": [300, 100], "flags": {},
                        "order": nid - 1, "mode": 0, "inputs": inputs, "outputs": outputs,
                        "properties": {"Node name for S&R": typ}, "widgets_values": wv})
    return {"last_node_id": nid, "last_link_id": lid, "nodes": out, "links": links, "groups": [],
            "config": {}, "extra": {}, "version": 0.4}


def bench_server(url: str, repeat: int, sample: dict[str, Any]) -> dict[str, Any]:
    server = ServerConfig(id="bench", url=url)
    began = time.perf_counter()
    page = EditorPage(server)
    info = wait(page.load(), 180)
    ready_s = time.perf_counter() - began
    wait(push(page, sample, name="bench sample"), 60)
    shown_s = time.perf_counter() - began
    wf = big_workflow()
    info_defs = wait(page.call("objectInfo"), 60)
    fields = list_fields(wf, info_defs)
    taken: set[str] = set()
    exposed = [expose(f, taken=taken) for f in fields[:20]]
    pushes, pulls, totals = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pushed = wait(push(page, wf, name="bench 300 nodes", exposed=exposed), 120)
        t1 = time.perf_counter()
        result = wait(pull(page, exposed=exposed, pushed=pushed.workflow, object_info=info_defs), 120)
        t2 = time.perf_counter()
        assert len(result.prompt) == NODES and len(result.diff.kept) == len(exposed)
        pushes.append(t1 - t0)
        pulls.append(t2 - t1)
        totals.append(t2 - t0)
    page.close()
    row = {"url": url, "frontend": info.version, "ready_s": round(ready_s, 3), "workflow_shown_s": round(shown_s, 3),
           "nodes": NODES, "repeat": repeat, "push_median_s": round(statistics.median(pushes), 3),
           "pull_median_s": round(statistics.median(pulls), 3),
           "push_pull_median_s": round(statistics.median(totals), 3),
           "push_pull_max_s": round(max(totals), 3), "goal_s": GOAL_S,
           "meets_goal": statistics.median(totals) < GOAL_S}
    print(f"frontend {info.version}: ready {ready_s:.2f} s, workflow shown {shown_s:.2f} s; "
          f"{NODES}-node push {row['push_median_s']:.3f} s + pull {row['pull_median_s']:.3f} s "
          f"= {row['push_pull_median_s']:.3f} s (median of {repeat}; goal < {GOAL_S:g} s)")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", nargs="+", default=["http://127.0.0.1:18188", "http://127.0.0.1:18191"])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    ensure_app()
    import json
    from pathlib import Path
    sample = json.loads((Path(__file__).resolve().parents[1] / "tests" / "editor_bridge" / "sample_workflow.json").read_text())
    rows = [bench_server(u, args.repeat, sample) for u in args.servers]
    path = write_result("bridge", {"servers": rows, "note": "offscreen QtWebEngine, software rendering; "
                                   "ready_s/workflow_shown_s from creating the page; push+pull after it is ready"})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
