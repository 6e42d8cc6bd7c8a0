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
from ..workflow.convert import to_api
from ..workflow.formats import WorkflowFile, load_workflow, parse_json_text
from ..workflow.params import list_fields
from ..workflow.suggest import ports, suggest


def register(w: Any) -> None:
    """Add the inspection subcommands to the ``workflow`` sub-parser ``w``."""
    v = w.add_parser("validate", help="check a workflow file (UI, API, PNG or WebP) and say what it is")
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
    wf = load_workflow(args.file)
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
    ids = {(p.node_id, p.input_name): p.id for p in sugg}
    for f in rows:
        value = json.dumps(f.value, default=str)
        if len(value) > 60:
            value = value[:57] + "..."
        extra = []
        c = f.constraints
        if c.min is not None or c.max is not None:
            extra.append(f"{c.min if c.min is not None else ''}..{c.max if c.max is not None else ''}")
        if c.choices:
            extra.append(f"{len(c.choices)} choices")
        if f.control:
            extra.append(f"control {f.control}")
        tag = ids.get((f.node_id, f.input_name), "")
        print(f"{f.key:<28} {f.type:<8} {value:<62} {f.node_title} {' '.join(extra)} {('[' + tag + ']') if tag else ''}".rstrip())
    for p in prts:
        print(f"{p.direction} port: node {p.node_id} {p.node_type} ({p.media})")
    return 0


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
