"""ryven-comfy monitoring agent for ComfyUI: adds the read-only route ``GET /ryven_comfy/stats``.

Copy this folder into ComfyUI's ``custom_nodes`` (or run
``ryven-comfy agent install --comfy-dir DIR``) and restart ComfyUI. The route needs no
token of its own: whatever protects the server (a proxy with auth) protects it too.
It adds no nodes.
"""
from __future__ import annotations

import logging

from .stats import collect_stats

log = logging.getLogger("ryven_comfy_agent")

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
ROUTE = "/ryven_comfy/stats"


def _register() -> None:
    try:
        from aiohttp import web
        from server import PromptServer  # ComfyUI's own module: present only inside ComfyUI
    except ImportError:
        return  # imported outside ComfyUI (tests): nothing to register
    routes = PromptServer.instance.routes

    @routes.get(ROUTE)  # type: ignore[untyped-decorator]  # ComfyUI's routes are untyped
    async def ryven_comfy_stats(request: web.Request) -> web.Response:
        return web.json_response(collect_stats())

    log.info("ryven_comfy_agent: serving %s", ROUTE)


_register()
