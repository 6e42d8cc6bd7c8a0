"""``ryven-comfy workflow run``: run a workflow N times across the pool and save its outputs."""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..discovery import resolve_servers_config
from ..errors import ComfyBackendError, ConfigError, WorkflowError
from ..files import atomic_write_text
from ..models import JobSnapshot, JobState
from ..requests import RunRequest, Target
from ..runtime import JobHandle, Orchestrator
from ..safe_text import sanitize_line
from ..workflow import apply_assignments, parse_assignment, seed_inputs, vary_seed
from ..workflow.formats import WorkflowFile, load_workflow
from ..workflow.patch import apply_seed_control, seed_controls
from . import workflow_inspect, workflow_store
from .progress import ProgressDisplay

EXIT_INTERRUPTED = 130  # as for Ctrl-C, also after SIGTERM
DEFS_TIMEOUT = 120.0  # seconds to wait for a server's node definitions (needed to convert a UI workflow)


def register(sub: Any) -> None:
    cmd = sub.add_parser("workflow", help="run and inspect workflow files")
    w = cmd.add_subparsers(dest="workflow_command", metavar="{run,validate,params,to-api,push,pull}")
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
    run.add_argument("--metrics", metavar="FILE", help="write the batch's per-server metrics as JSON to FILE")
    run.set_defaults(func=cmd_run)
    workflow_inspect.register(w)
    workflow_store.register(w)  # push, pull, to-api --frontend


def prepare_prompts(path: str | WorkflowFile, sets: list[str], count: int, randomize: bool,
                    object_info: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The prompts of a batch: converted (UI workflows, with ``object_info``), patched, seeds varied.

    Seeds of UI workflows follow their own control widgets (fixed/increment/decrement/
    randomize); API prompts have each seed moved by the run index (or randomized).
    """
    if count < 1:
        raise WorkflowError("--count must be at least 1")
    wf = path if isinstance(path, WorkflowFile) else load_workflow(path)
    prompt = workflow_inspect.prompt_of(wf, object_info)
    prompt = apply_assignments(prompt, [parse_assignment(s) for s in sets])
    controls = seed_controls(wf.ui, object_info) if (wf.ui is not None and object_info is not None) else {}
    if controls and not randomize:
        return [apply_seed_control(prompt, controls, i, object_info=object_info) for i in range(count)]
    return [vary_seed(prompt, i, randomize=randomize) for i in range(count)]


def run_requests(wf: WorkflowFile, prompts: list[dict[str, Any]], sets: list[str], *, target: Target,
                 label: str) -> list[RunRequest]:
    """For a UI workflow: per run, a request that the core converts with the node definitions of
    the server that runs it, then writes ``--set`` and the run's seeds (as worked out in ``prompts``)."""
    assert wf.ui is not None
    assigned = {f"{n}.{k}": v for n, k, v in (parse_assignment(s) for s in sets)}
    requests = []
    for i, prompt in enumerate(prompts):
        seeds = {f"{n}.{k}": prompt[n]["inputs"][k] for n, k in seed_inputs(prompt)}
        requests.append(RunRequest(workflow=wf.ui, values={**seeds, **assigned}, target=target,
                                   label=_run_label(label, i, len(prompts))))
    return requests


def _run_label(label: str, index: int, count: int) -> str:
    return f"{label}#{index + 1}" if count > 1 else label


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a batch: its jobs were cancelled; ``rows`` is the report so far."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__("interrupted")
        self.rows = rows


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM is handled like Ctrl-C (jobs cancelled on the servers, finished outputs kept)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _row(snap: JobSnapshot, paths: list[str], save_error: str | None) -> dict[str, Any]:
    status, error = snap.state.value, snap.error.to_dict() if snap.error else None
    if save_error is not None:
        status = "failed"
        error = {"kind": "output", "message": save_error, "retryable": False, "node_id": None,
                 "input_name": None, "server": snap.server, "extra": {}}
    return {
        "label": snap.label,
        "prompt_id": snap.prompt_id,
        "server": snap.server,
        "status": status,
        "attempts": [a.to_dict() for a in snap.attempts],
        "outputs": paths,
        "seconds": snap.seconds,
        "error": error,
    }


def run_batch(
    orch: Orchestrator,
    prompts: Sequence[dict[str, Any] | RunRequest],
    out_dir: Path,
    *,
    target: Target,
    label: str,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Submit every run (an API prompt, or a ready request), follow them on the terminal,
    save each job's outputs as soon as it succeeds; return the JSON report rows (one per job,
    in order, whatever failed). Ctrl-C or SIGTERM cancels the jobs still running and raises
    BatchInterrupted carrying the rows (finished jobs keep their saved outputs)."""
    requests = [
        dataclasses.replace(p, fetch_outputs=True) if isinstance(p, RunRequest)
        else RunRequest(workflow=p, target=target, label=_run_label(label, i, len(prompts)), fetch_outputs=True)
        for i, p in enumerate(prompts)
    ]
    display = ProgressDisplay() if show_progress else None
    handles: list[JobHandle] = []
    saving: dict[int, cf.Future[list[Path]]] = {}
    with _sigterm_as_interrupt():
        try:
            # Outputs are in hand when a job succeeds (fetch_outputs), so saving them never
            # waits on a server that has died or hung since.
            handles = [orch.submit(r) for r in requests]
            while len(saving) < len(handles):
                for i, h in enumerate(handles):
                    if i not in saving and h.done():
                        saving[i] = _save(orch, h.result(), out_dir)
                if display:
                    display.update([s for s in (h.snapshot() for h in handles) if s])
                time.sleep(0.1)
            rows = _rows(handles, saving, timeout=600)
        except KeyboardInterrupt:
            # Withdraw our jobs from the servers (queued ones deleted, running ones
            # interrupted) instead of leaving them to run for nobody.
            print("\ncancelling the jobs on the servers…", file=sys.stderr)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
            for h in handles:
                h.cancel()
            for i, h in enumerate(handles):
                try:
                    snap = h.result(timeout=30)
                except cf.TimeoutError:
                    continue
                if i not in saving:
                    saving[i] = _save(orch, snap, out_dir)
            raise BatchInterrupted(_rows(handles, saving, timeout=60)) from None
    if display:
        display.update([h.result() for h in handles], force=True)
    return rows


def _save(orch: Orchestrator, snap: JobSnapshot, out_dir: Path) -> cf.Future[list[Path]]:
    if snap.state is JobState.SUCCEEDED and snap.outputs:
        return orch.save_outputs(snap.outputs, out_dir)
    done: cf.Future[list[Path]] = cf.Future()
    done.set_result([])
    return done


def _rows(handles: list[JobHandle], saving: dict[int, cf.Future[list[Path]]], timeout: float) -> list[dict[str, Any]]:
    rows = []
    for i, h in enumerate(handles):
        snap = h.snapshot() if not h.done() else h.result()
        if snap is None:
            continue
        if not h.done():
            rows.append(_row(snap, [], None))
            continue
        paths: list[str] = []
        save_error = None
        try:
            paths = [str(p) for p in saving[i].result(timeout=timeout)] if i in saving else []
        except cf.TimeoutError:
            save_error = "outputs not saved: timed out"
        except (ComfyBackendError, OSError) as exc:
            save_error = f"outputs not saved: {exc}"
        latest = h.snapshot() or snap  # attempts may have learnt what became of abandoned prompts
        rows.append(_row(latest if latest.state.final else snap, paths, save_error))
    return rows


def _report(rows: list[dict[str, Any]], out_dir: Path, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"jobs": rows}, indent=2))
    else:
        n_out = sum(len(r["outputs"]) for r in rows)
        print(f"{sum(r['status'] == 'succeeded' for r in rows)}/{len(rows)} jobs succeeded; "
              f"{n_out} output file(s) in {out_dir.resolve()}")
        for r in rows:
            if r["status"] != "succeeded" and r["error"]:
                print(sanitize_line(f"{r['label']}: {r['status']}: {r['error']['message']}"), file=sys.stderr)
        dups = sum(1 for r in rows for a in r["attempts"] if a.get("duplicate"))
        if dups:
            print(f"warning: {dups} abandoned prompt(s) still ran on their server (duplicate executions)",
                  file=sys.stderr)


def _write_metrics(orch: Orchestrator, path: Path, since: float) -> None:
    """``--metrics FILE``: the batch's samples and job figures per server (atomically)."""
    report = orch.metrics_report(since=since).result(timeout=30)
    atomic_write_text(path, json.dumps(report, indent=1) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    wf = load_workflow(args.file)
    config = resolve_servers_config(args.servers)
    if args.server and args.server not in {s.id for s in config.servers}:  # bad input: exit 2, not "no server"
        raise ConfigError(f"--server {sanitize_line(args.server, max_chars=80)}: no server with that id; "
                          f"the servers config has {', '.join(s.id for s in config.servers)}")
    if args.count < 1:
        raise WorkflowError("--count must be at least 1")
    if wf.ui is None:  # API prompts are checked before any server is contacted
        prompts = prepare_prompts(wf, args.set, args.count, args.randomize_seed)
    target = Target(server=args.server, tags=tuple(args.tag))
    out_dir = Path(args.out)
    label = Path(args.file).stem
    started = time.time()  # the first health checks count: a short batch still has its samples
    orch = Orchestrator.open(config, policy=args.policy)
    try:
        runs: list[dict[str, Any] | RunRequest] = list(prompts) if wf.ui is None else []
        if wf.ui is not None:
            # Checked (and shown) with one server's node definitions; each job is then
            # converted again with the definitions of the server that runs it.
            _, info = orch.fetch_node_definitions(args.server).result(timeout=DEFS_TIMEOUT)
            prompts = prepare_prompts(wf, args.set, args.count, args.randomize_seed, info)
            runs = list(run_requests(wf, prompts, args.set, target=target, label=label))
        if args.count > 1 and not seed_inputs(prompts[0]):
            print("note: the workflow has no seed input; identical runs are served from the server's cache",
                  file=sys.stderr)
        rows = run_batch(orch, runs, out_dir, target=target, label=label, show_progress=True)
    except BatchInterrupted as stop:
        _report(stop.rows, out_dir, args.json)
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if args.metrics:
            _write_metrics(orch, Path(args.metrics), started)
        orch.close()
    _report(rows, out_dir, args.json)
    return 0 if all(r["status"] == "succeeded" for r in rows) else 1
