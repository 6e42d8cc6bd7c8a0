"""``ryven-comfy workflow push | pull`` (the server's workflow store) and ``to-api --frontend``.

``push`` and ``pull`` go through the server's ``/userdata`` (``workflows/NAME.json``): the files
the web UI lists as its saved workflows. ``to-api --frontend URL`` has the server's own web UI
convert the workflow; that needs Qt, which the core never imports: the implementation is
registered by the front through the entry-point group :data:`FRONTEND_GROUP`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp

from ..client import ComfyClient
from ..config import ServerConfig
from ..errors import ComfyBackendError, ConfigError, ServerHTTPError, WorkflowError
from ..files import atomic_write_text
from ..workflow.formats import load_workflow, parse_json_text

#: entry points of the front: ``to_api`` names ``fn(workflow: dict, url: str, *, timeout: float) -> dict``
FRONTEND_GROUP = "ryven_comfy.frontend"
WORKFLOWS_DIR = "workflows"
FRONTEND_TIMEOUT = 90.0  # seconds for the page to load and convert (software rendering on a small machine)


def register(w: Any) -> None:
    """Add ``push`` and ``pull`` to the ``workflow`` sub-parser ``w``, and ``--frontend`` to its ``to-api``."""
    p = w.add_parser("push", help="save a UI workflow to a server's workflow store (/userdata workflows/NAME.json)")
    p.add_argument("file", help="UI workflow JSON, or a PNG/WebP saved by ComfyUI")
    p.add_argument("--server", required=True, metavar="URL", help="the ComfyUI server")
    p.add_argument("--name", help="name in the store (default: the file name without extension)")
    p.add_argument("--no-overwrite", action="store_true", help="fail when the name is taken")
    p.set_defaults(func=cmd_push)

    q = w.add_parser("pull", help="load a workflow from a server's workflow store")
    q.add_argument("name", help="NAME of workflows/NAME.json on the server")
    q.add_argument("--server", required=True, metavar="URL", help="the ComfyUI server")
    q.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    q.set_defaults(func=cmd_pull)

    to_api = w.choices.get("to-api")
    if to_api is not None:
        add_frontend_option(to_api)


def store_name(name: str) -> str:
    """``NAME`` checked for the store: ``.json`` dropped; ConfigError for empty or path-like names."""
    name = name.strip()
    if name.lower().endswith(".json"):
        name = name[:-5]
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts) or "\\" in name or name.startswith("."):
        raise ConfigError(f"unusable workflow name {name!r}: use letters, digits, spaces, '-', '_' "
                          "(subfolders as a/b)")
    return name


def _server(url: str) -> ServerConfig:
    try:
        return ServerConfig(id="cli", url=url)
    except ValueError as exc:
        msg = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise ConfigError(f"--server {url}: {msg}") from None


async def _with_client(url: str, work: Callable[[ComfyClient], Any]) -> Any:
    async with aiohttp.ClientSession() as session:
        return await work(ComfyClient(_server(url), session))


def cmd_push(args: argparse.Namespace) -> int:
    wf = load_workflow(args.file)
    if wf.ui is None:
        raise WorkflowError(f"{wf.source}: the workflow store holds UI workflows; this is an API prompt")
    name = store_name(args.name or Path(args.file).stem)
    path = f"{WORKFLOWS_DIR}/{name}.json"
    body = json.dumps(wf.ui, ensure_ascii=False).encode("utf-8")

    async def push(client: ComfyClient) -> str:
        try:
            return await client.userdata_put(path, body, overwrite=not args.no_overwrite)
        except ServerHTTPError as exc:
            if exc.status == 409:
                raise ConfigError(f"server {args.server} already has {path} (drop --no-overwrite to replace it)") from None
            raise

    stored = asyncio.run(_with_client(args.server, push))
    print(stored)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    name = store_name(args.name)
    path = f"{WORKFLOWS_DIR}/{name}.json"

    async def pull(client: ComfyClient) -> bytes:
        try:
            return await client.userdata_get(path)
        except ServerHTTPError as exc:
            if exc.status == 404:
                raise ConfigError(f"server {args.server} has no workflow {name!r} ({path})") from None
            raise

    raw = asyncio.run(_with_client(args.server, pull))
    data = parse_json_text(raw, f"{args.server} {path}")   # malformed JSON → WorkflowError, exit 2
    if not isinstance(data, dict):
        raise WorkflowError(f"{args.server} {path}: not a workflow (expected a JSON object)")
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        out = Path(args.output)
        if out.is_dir():
            raise ConfigError(f"{out} is a folder; give a file name with -o")
        atomic_write_text(out, text)
        print(f"{path} -> {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# ---------------------------------------------------------------- to-api --frontend


def add_frontend_option(to_api: argparse.ArgumentParser) -> None:
    """``--frontend URL`` on ``to-api``: the conversion is done by that server's web UI."""
    to_api.add_argument("--frontend", metavar="URL",
                        help="convert in this server's real web UI (offscreen QtWebEngine; needs editor_bridge)")
    inner = to_api.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if getattr(args, "frontend", None):
            return cmd_to_api_frontend(args)
        return int(inner(args) or 0)

    to_api.set_defaults(func=dispatch)


def frontend_converter() -> Callable[..., dict[str, Any]]:
    """The front's ``to_api`` implementation, or ComfyBackendError saying why it is unavailable."""
    eps = [ep for ep in entry_points(group=FRONTEND_GROUP) if ep.name == "to_api"]
    if not eps:
        raise ComfyBackendError("--frontend needs the editor bridge (package editor_bridge with PySide6 "
                                f"QtWebEngine), which is not installed (no '{FRONTEND_GROUP}' entry point)")
    try:
        fn = eps[0].load()
    except ImportError as exc:
        raise ComfyBackendError(f"--frontend needs the editor bridge with PySide6 QtWebEngine: {exc}") from None
    if not callable(fn):
        raise ComfyBackendError(f"entry point {eps[0].value} is not callable")
    return fn  # type: ignore[no-any-return]


def cmd_to_api_frontend(args: argparse.Namespace) -> int:
    if getattr(args, "server", None) or getattr(args, "object_info", None):
        raise ConfigError("--frontend converts in the server's web UI: give it without --server/--object-info")
    _server(args.frontend)  # a bad URL is bad input (exit 2) before Qt starts
    wf = load_workflow(args.file)
    if wf.ui is None:
        raise WorkflowError(f"{wf.source}: already an API prompt; --frontend converts UI workflows")
    prompt = frontend_converter()(wf.ui, args.frontend, timeout=FRONTEND_TIMEOUT)
    print(json.dumps(prompt, indent=2, allow_nan=True))
    return 0
