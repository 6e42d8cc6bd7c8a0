"""``ryven-comfy workflow run``: run a workflow N times across the pool and save its outputs."""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..jobs import Target
from ..models import JobState
from ..runtime import Orchestrator
from ..workflow import apply_assignments, parse_assignment, seed_inputs, vary_seed
from ..workflow.formats import WorkflowFile, load_workflow
from ..workflow.patch import apply_seed_control, seed_controls
from . import workflow_inspect
from .common import resolve_servers, start_backend
from .progress import ProgressDisplay


def register(sub: Any) -> None:
    cmd = sub.add_parser("workflow", help="run and inspect workflow files")
    w = cmd.add_subparsers(dest="workflow_command", metavar="{run,validate,params,to-api}")
    w.required = True
    run = w.add_parser("run", help="run a workflow N times across the servers")
    run.add_argument("file", help="workflow: API or UI JSON, or a PNG/WebP saved by ComfyUI")
    run.add_argument("--servers", help="servers config (YAML or JSON)")
    run.add_argument("--set", action="append", default=[], metavar="NODE_ID.INPUT=VALUE", help="set an input value (repeatable)")
    run.add_argument("--count", type=int, default=1, help="number of runs; a seed input is varied per run")
    run.add_argument("--out", default="ryven-comfy-outputs", help="folder for the outputs (default ./ryven-comfy-outputs)")
    run.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    run.add_argument("--server", help="pin every job to this server id")
    run.add_argument("--tag", action="append", default=[], help="only servers with this tag (repeatable)")
    run.add_argument("--policy", choices=["default", "least-queue", "round-robin"], help="scheduling policy")
    run.add_argument("--randomize-seed", action="store_true", help="random seeds instead of seed+i")
    run.set_defaults(func=cmd_run)
    workflow_inspect.register(w)


def prepare_prompts(path: str | WorkflowFile, sets: list[str], count: int, randomize: bool,
                    object_info: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The prompts of a batch: converted (UI workflows, with ``object_info``), patched, seeds varied.

    Seeds of UI workflows follow their own control widgets (fixed/increment/decrement/
    randomize); API prompts have each seed moved by the run index (or randomized).
    """
    from ..errors import WorkflowError

    if count < 1:
        raise WorkflowError("--count must be at least 1")
    wf = path if isinstance(path, WorkflowFile) else load_workflow(path)
    prompt = workflow_inspect.prompt_of(wf, object_info)
    prompt = apply_assignments(prompt, [parse_assignment(s) for s in sets])
    controls = seed_controls(wf.ui, object_info) if (wf.ui is not None and object_info is not None) else {}
    if controls and not randomize:
        return [apply_seed_control(prompt, controls, i, object_info=object_info) for i in range(count)]
    return [vary_seed(prompt, i, randomize=randomize) for i in range(count)]


def prompt_builders(wf: WorkflowFile, sets: list[str], count: int, randomize: bool) -> list[Callable[[dict[str, Any]], dict[str, Any]]]:
    """For a UI workflow: per run, a function that converts it with a server's own node
    definitions, then applies ``--set`` and the run's seed; the pool calls it for the
    server that runs the job."""
    assignments = [parse_assignment(s) for s in sets]

    def build(object_info: dict[str, Any], index: int) -> dict[str, Any]:
        prompt = apply_assignments(workflow_inspect.prompt_of(wf, object_info), assignments)
        controls = seed_controls(wf.ui, object_info) if wf.ui is not None else {}
        if controls and not randomize:
            return apply_seed_control(prompt, controls, index, object_info=object_info)
        return vary_seed(prompt, index, randomize=randomize)

    return [functools.partial(build, index=i) for i in range(count)]


def _object_info_for(orch: Orchestrator, server: str | None) -> dict[str, Any]:
    """The node definitions of the pinned server, else of the first usable one: used to
    check the workflow and ``--set`` before anything is submitted."""
    async def get() -> dict[str, Any]:
        from ..errors import NoServerAvailable

        for handle in orch.pool.usable_servers():
            if server is None or handle.id == server:
                return await handle.client.object_info()
        raise NoServerAvailable("no usable server to read node definitions from (needed to convert a UI workflow)")

    return orch.run_coroutine(get()).result(timeout=120)


def run_batch(
    orch: Orchestrator,
    prompts: list[dict[str, Any]],
    out_dir: Path,
    *,
    target: Target,
    label: str,
    show_progress: bool = True,
    builders: list[Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Submit every prompt, follow them on the terminal, save outputs; return the JSON report rows.

    With ``builders`` (one per prompt), each job is rebuilt for the server that runs it.
    """
    handles = [
        orch.submit(p, label=f"{label}#{i + 1}" if len(prompts) > 1 else label, target=target,
                    build=builders[i] if builders else None)
        for i, p in enumerate(prompts)
    ]
    display = ProgressDisplay() if show_progress else None
    try:
        while not all(h.done() for h in handles):
            if display:
                display.update([s for s in (h.snapshot() for h in handles) if s])
            time.sleep(0.1)
    except KeyboardInterrupt:
        # Ctrl-C: withdraw our jobs from the servers (queued ones deleted, running ones
        # interrupted) instead of leaving them to run for nobody.
        print("\ncancelling the jobs on the servers…", file=sys.stderr)
        for h in handles:
            h.cancel()
        for h in handles:
            h.result(timeout=30)
        raise
    finals = [h.result() for h in handles]
    if display:
        display.update(finals, force=True)
    rows = []
    for snap in finals:
        paths: list[str] = []
        if snap.state is JobState.SUCCEEDED:
            paths = [str(p) for p in orch.save_outputs(snap, out_dir)]
        rows.append({
            "label": snap.label,
            "prompt_id": snap.prompt_id,
            "server": snap.server,
            "status": snap.state.value,
            "attempts": [a.to_dict() for a in snap.attempts],
            "outputs": paths,
            "seconds": snap.seconds,
            "error": snap.error,
        })
    return rows


def cmd_run(args: argparse.Namespace) -> int:
    wf = load_workflow(args.file)
    config = resolve_servers(args.servers)
    if args.count < 1:
        from ..errors import WorkflowError
        raise WorkflowError("--count must be at least 1")
    if wf.ui is None:  # API prompts are checked before any server is contacted
        prompts = prepare_prompts(wf, args.set, args.count, args.randomize_seed)
    target = Target(server=args.server, tags=tuple(args.tag))
    out_dir = Path(args.out)
    orch = start_backend(config, policy=args.policy)
    try:
        builders = None
        if wf.ui is not None:
            # Checked (and shown) with one server's node definitions; each job is then
            # converted again with the definitions of the server that runs it.
            prompts = prepare_prompts(wf, args.set, args.count, args.randomize_seed,
                                      _object_info_for(orch, args.server))
            builders = prompt_builders(wf, args.set, args.count, args.randomize_seed)
        if args.count > 1 and not seed_inputs(prompts[0]):
            print("note: the workflow has no seed input; identical runs are served from the server's cache",
                  file=sys.stderr)
        rows = run_batch(orch, prompts, out_dir, target=target, label=Path(args.file).stem, show_progress=True,
                         builders=builders)
    finally:
        orch.close()
    ok = all(r["status"] == "succeeded" for r in rows)
    if args.json:
        print(json.dumps({"jobs": rows}, indent=2))
    else:
        n_out = sum(len(r["outputs"]) for r in rows)
        print(f"{sum(r['status'] == 'succeeded' for r in rows)}/{len(rows)} jobs succeeded; "
              f"{n_out} output file(s) in {out_dir.resolve()}")
        for r in rows:
            if r["status"] != "succeeded" and r["error"]:
                print(f"{r['label']}: {r['status']}: {r['error']['message']}", file=sys.stderr)
    return 0 if ok else 1
