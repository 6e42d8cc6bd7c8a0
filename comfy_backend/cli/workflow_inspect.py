"""``ryven-comfy workflow validate | params | to-api``: look into workflow files without running them."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from ..client import ComfyClient
from ..config import ServerConfig
from ..errors import ConfigError, WorkflowError
from ..workflow.checks import link_problems
from ..workflow.convert import to_api
from ..workflow.formats import WorkflowFile, load_workflow, parse_json_text
from ..workflow.nodedefs import NodeDefs
from ..workflow.params import ExposedParameter, Field, list_fields
from ..workflow.suggest import ports, suggest

#: problems listed by ``validate`` before "… and N more"
_MAX_PROBLEMS = 50


def register(w: Any) -> None:
    """Add the inspection subcommands to the ``workflow`` sub-parser ``w``."""
    v = w.add_parser("validate", help="check a workflow file (UI, API, PNG or WebP) and say what it is; "
                     "exit 2 on a malformed file, duplicate node ids, dangling links or link slots out of range")
    v.add_argument("file")
    v.set_defaults(func=cmd_validate)

    p = w.add_parser("params", help="list the settable fields of a workflow and the suggested parameters")
    p.add_argument("file")
    _add_object_info_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--all", action="store_true", help="list every field, not only the suggested ones")
    p.set_defaults(func=cmd_params)

    t = w.add_parser("to-api", help="convert a UI workflow to an API prompt and print it")
    t.add_argument("file")
    _add_object_info_args(t)
    t.set_defaults(func=cmd_to_api)


def _add_object_info_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--object-info", metavar="FILE", help="a saved GET /object_info answer")
    g.add_argument("--server", metavar="URL", help="fetch /object_info from this ComfyUI server")


def read_object_info(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--object-info FILE`` or ``--server URL`` (None when neither is given)."""
    if getattr(args, "object_info", None):
        path = Path(args.object_info)
        if not path.is_file():
            raise ConfigError(f"{path}: object_info file not found")
        data = parse_json_text(path.read_bytes(), str(path))
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object of node definitions")
        return data
    if getattr(args, "server", None):
        return asyncio.run(fetch_object_info(args.server))
    return None


async def fetch_object_info(url: str) -> dict[str, Any]:
    """GET /object_info from one server through the project's client."""
    try:
        config = ServerConfig(id="cli", url=url)
    except ValueError as exc:
        raise ConfigError(f"--server {url}: {exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}") from None
    async with aiohttp.ClientSession() as session:
        return await ComfyClient(config, session).object_info()


def cmd_validate(args: argparse.Namespace) -> int:
    wf = load_workflow(args.file)   # schema, node ids (duplicates name both places): WorkflowError → exit 2
    problems = link_problems(wf.model) if wf.ui is not None else []
    if problems:
        for p in problems[:_MAX_PROBLEMS]:
            print(f"{wf.source}: {p}", file=sys.stderr)
        if len(problems) > _MAX_PROBLEMS:
            print(f"{wf.source}: … and {len(problems) - _MAX_PROBLEMS} more problems", file=sys.stderr)
        return 2
    parts = [f"{wf.source}: valid"]
    if wf.ui is not None:
        nodes = wf.ui.get("nodes") or []
        subs = len(((wf.ui.get("definitions") or {}).get("subgraphs")) or [])
        parts.append(f"UI workflow {wf.version}, {len(nodes)} nodes" + (f", {subs} subgraph definitions" if subs else ""))
    if wf.api is not None:
        parts.append(f"API prompt, {len(wf.api)} nodes")
    if wf.container != "json":
        parts.append(f"from {wf.container.upper()} metadata")
    print("; ".join(parts))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    wf = load_workflow(args.file)
    info = read_object_info(args)
    data = wf.model
    fields = list_fields(data, info)
    sugg = suggest(data, info, fields=fields)
    prts = ports(data, info)
    if args.json:
        print(json.dumps({
            "fields": [f.model_dump() for f in fields],
            "suggested": [p.model_dump() for p in sugg],
            "ports": [p.model_dump() for p in prts],
        }, indent=2, default=str))
        return 0
    if wf.ui is not None and info is None:
        print("note: without --object-info/--server, widget names are guessed", file=sys.stderr)
    rows = fields if args.all else [f for f in fields if any(
        (p.node_id, p.input_name) == (f.node_id, f.input_name) for p in sugg)]
    print_table(rows, sugg, NodeDefs.of(info))
    for p in prts:
        print(f"{p.direction} port: node {p.node_id} {p.node_type} ({p.media})")
    return 0


def print_table(fields: list[Field], suggested: list[ExposedParameter], defs: NodeDefs) -> None:
    """Fields as a table with headers; suggested ones marked ``*`` with their parameter id."""
    ids = {(p.node_id, p.input_name): p.id for p in suggested}
    header = ("", "FIELD", "TYPE", "VALUE", "RANGE", "NODE", "SUGGESTED")
    rows = [header]
    for f in fields:
        value = json.dumps(f.value, default=str, ensure_ascii=False)
        if len(value) > 40:
            value = value[:37] + "..."
        tag = ids.get((f.node_id, f.input_name))
        rows.append(("*" if tag else "", f.key, f.type, value, _range(f, defs), f.node_title, f"[{tag}]" if tag else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _range(f: Field, defs: NodeDefs) -> str:
    """``min..max`` (integers for INT fields, exact from the node definition), choices, control."""
    c = f.constraints
    parts = []
    if c.min is not None or c.max is not None:
        d = defs.input(f.node_type, f.input_name) if f.node_type in defs else None
        exact = d.options if d is not None else {}

        def bound(key: str, v: float | None) -> str:
            if v is None:
                return ""
            raw = exact.get(key)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool) and float(raw) == v:
                v = raw   # the definition's own number: 2^64-1 stays exact
            return str(int(v)) if f.type == "INT" or float(v).is_integer() else str(v)

        parts.append(f"{bound('min', c.min)}..{bound('max', c.max)}")
    if c.choices:
        parts.append(f"{len(c.choices)} choices")
    if f.control:
        parts.append(f"control {f.control}")
    return " ".join(parts)


def cmd_to_api(args: argparse.Namespace) -> int:
    wf = load_workflow(args.file)
    prompt = prompt_of(wf, read_object_info(args))
    print(json.dumps(prompt, indent=2, allow_nan=True))
    return 0


def prompt_of(wf: WorkflowFile, object_info: dict[str, Any] | None) -> dict[str, Any]:
    """The API prompt of a loaded file: converted from its UI workflow when there is one and
    object_info is available, else the API prompt it carries."""
    if wf.ui is not None and object_info is not None:
        return to_api(wf.parsed("ui"), object_info)
    if wf.api is not None:
        return wf.api
    raise WorkflowError(f"{wf.source}: a UI workflow needs the server's node definitions to convert "
                        "(pass --object-info FILE or --server URL)")
