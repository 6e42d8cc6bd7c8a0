"""HTTP and WebSocket routes of the fake server (every route also under `/api`)."""
from __future__ import annotations

import ipaddress
import json
import logging
import mimetypes
import posixpath
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Middleware

from .catalog import MODEL_FOLDERS
from .hostile import middleware as hostile_middleware
from .media import FOLDER_TYPES, escapes, render_view, split_annotated
from .state import QueueItem
from .validation import validate_prompt

if TYPE_CHECKING:
    from .server import FakeComfyServer

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
_TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"


async def _clear_or_delete(request: web.Request, clear: Callable[[], None], delete: Callable[[str], object]) -> web.Response:
    """``{"clear": true}`` and/or ``{"delete": [ids]}``, as POST /queue and POST /history take them."""
    try:
        body = await request.json()
    except ValueError:
        return _server_error()
    if body.get("clear"):
        clear()
    for pid in body.get("delete", []) if "delete" in body else []:
        delete(pid)
    return web.Response(status=200)


def _server_error() -> web.Response:
    return web.Response(status=500, text=_TROUBLE)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@web.middleware
async def origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 when Origin and Host differ on a loopback host (`create_origin_only_middleware`)."""
    if "Host" in request.headers and "Origin" in request.headers:
        host_header = request.headers["Host"].lower()
        parsed = urllib.parse.urlparse(request.headers["Origin"])
        origin_domain: str | None = parsed.netloc.lower()
        host_parsed = urllib.parse.urlsplit("//" + host_header)
        host_domain: str | None = host_header
        loopback = _is_loopback(host_parsed.hostname)
        if parsed.port is None:
            host_domain = host_parsed.hostname
        if host_parsed.port is None:
            origin_domain = parsed.hostname
        if loopback and host_domain and origin_domain and host_domain != origin_domain:
            return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


def cors(allowed_origin: str) -> Middleware:
    """`--enable-cors-header ORIGIN`: replaces the origin check."""
    @web.middleware
    async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = web.Response() if request.method == "OPTIONS" else await handler(request)
        response.headers["Access-Control-Allow-Origin"] = allowed_origin
        response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response
    return cors_middleware


class Routes:
    """Request handlers bound to one FakeComfyServer."""

    def __init__(self, server: FakeComfyServer) -> None:
        self.s = server

    def app(self) -> web.Application:
        s = self.s
        middleware = cors(s.cors_origin) if s.cors_origin else origin_only
        app = web.Application(middlewares=[hostile_middleware(s.hostile), middleware], client_max_size=s.max_upload_size)
        table = [
            ("GET", "/ws", self.websocket), ("GET", "/system_stats", self.system_stats),
            ("GET", "/features", self.features), ("GET", "/prompt", self.get_prompt),
            ("POST", "/prompt", self.post_prompt), ("GET", "/queue", self.get_queue),
            ("POST", "/queue", self.post_queue), ("POST", "/interrupt", self.interrupt),
            ("POST", "/free", self.free), ("GET", "/history", self.get_history),
            ("GET", "/history/{prompt_id}", self.get_history_item), ("POST", "/history", self.post_history),
            ("GET", "/object_info", self.object_info), ("GET", "/object_info/{node_class}", self.object_info_one),
            ("GET", "/models", self.models), ("GET", "/models/{folder}", self.models_folder),
            ("GET", "/embeddings", self.embeddings), ("GET", "/extensions", self.extensions),
            ("POST", "/upload/image", self.upload_image), ("POST", "/upload/mask", self.upload_image),
            ("GET", "/view", self.view), ("GET", "/ryven_comfy/stats", self.agent_stats),
        ]
        for method, path, handler in table:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/api" + path, handler)
        app.router.add_get("/", self.root)
        return app

    # ----- WebSocket -----------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        s = self.s
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        s.hub.attach(sid, ws, request)
        try:
            await ws.send_json({"type": "status", "data": {"status": s.queue_info(), "sid": sid}})
            if s.executor.client_id == sid and s.executor.last_node_id is not None:
                await ws.send_json({"type": "executing", "data": {"node": s.executor.last_node_id}})
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if first_message and isinstance(data, dict) and data.get("type") == "feature_flags":
                    flags = data.get("data", {})
                    s.hub.feature_flags[sid] = flags if isinstance(flags, dict) else {}
                    await ws.send_json({"type": "feature_flags", "data": s.server_features()})
                first_message = False
        except (ConnectionError, RuntimeError):
            pass
        finally:
            s.hub.detach(sid, ws)
        return ws

    # ----- simple GETs -----------------------------------------------------------
    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Fake ComfyUI</title>", content_type="text/html")

    async def system_stats(self, request: web.Request) -> web.Response:
        if "/system_stats" in self.s.faults.bad_answers:
            return web.json_response(self.s.faults.bad_answers["/system_stats"])
        return web.json_response(self.s.system_stats())

    async def agent_stats(self, request: web.Request) -> web.Response:
        # The monitoring agent's route: served only when the test gave the fake an agent reading.
        if "/ryven_comfy/stats" in self.s.faults.bad_answers:
            return web.json_response(self.s.faults.bad_answers["/ryven_comfy/stats"])
        if self.s.agent_stats is None:
            raise web.HTTPNotFound()
        return web.json_response(self.s.agent_stats)

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.server_features())

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.queue_info())

    async def get_queue(self, request: web.Request) -> web.Response:
        if "/queue" in self.s.faults.bad_answers:
            return web.json_response(self.s.faults.bad_answers["/queue"])
        q = self.s.run.queue
        running = [q.running.as_list()] if q.running is not None else []
        return web.json_response({"queue_running": running,
                                  "queue_pending": [i.as_list() for i in q.pending()]})

    async def get_history(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        try:
            max_items = int(query["max_items"]) if "max_items" in query else None
            offset = int(query["offset"]) if "offset" in query else -1
        except ValueError:
            return _server_error()
        return web.json_response(self.s.run.queue.get_history(max_items, offset))

    async def get_history_item(self, request: web.Request) -> web.Response:
        pid = request.match_info["prompt_id"]
        entry = self.s.run.queue.history.get(pid)
        return web.json_response({pid: entry} if entry is not None else {})

    async def object_info(self, request: web.Request) -> web.Response:
        return web.Response(body=self.s.catalog.serialized(), content_type="application/json",
                            charset="utf-8")

    async def object_info_one(self, request: web.Request) -> web.Response:
        cls = request.match_info["node_class"]
        return web.json_response({cls: self.s.catalog.info(cls)} if cls in self.s.catalog else {})

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(list(MODEL_FOLDERS))

    async def models_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS and folder not in self.s.models:
            return web.Response(status=404)
        return web.json_response(list(self.s.models.get(folder, [])))

    async def embeddings(self, request: web.Request) -> web.Response:
        return web.json_response([posixpath.splitext(n)[0] for n in self.s.models.get("embeddings", [])])

    async def extensions(self, request: web.Request) -> web.Response:
        return web.json_response([])

    # ----- queue control -----------------------------------------------------------
    async def post_prompt(self, request: web.Request) -> web.Response:
        s = self.s
        s.posts += 1
        failure = s.faults.take_post_failure()
        if failure is not None and not failure.enqueue:
            return web.Response(status=failure.status, text=f"{failure.status} fake failure")
        try:
            body = await request.json()
            response = self._queue_prompt(body)
        except Exception:  # the real server answers any handler exception with a plain 500
            log.debug("fake comfy: POST /prompt failed", exc_info=True)
            return _server_error()
        if failure is not None:
            return web.Response(status=failure.status, text=f"{failure.status} fake failure")
        return response

    def _queue_prompt(self, body: dict[str, Any]) -> web.Response:
        s = self.s
        if "number" in body:
            number: float = float(body["number"])
        else:
            number = s.run.number.next()
            if body.get("front"):
                number = -number
        if "prompt" not in body:
            return web.json_response({"error": {"type": "no_prompt", "message": "No prompt provided",
                                                "details": "No prompt provided", "extra_info": {}},
                                      "node_errors": {}}, status=400)
        prompt = body["prompt"]
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        result = validate_prompt(prompt, s.catalog, partial_targets=body.get("partial_execution_targets"),
                                 file_exists=s.files.exists_annotated)
        extra_data = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not result.ok:
            return web.json_response({"error": result.error, "node_errors": result.node_errors}, status=400)
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            extra_data.pop(key, None)
        extra_data["create_time"] = int(time.time() * 1000)
        s.run.queue.put(QueueItem(number, prompt_id, prompt, extra_data, result.outputs))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})

    async def post_queue(self, request: web.Request) -> web.Response:
        q = self.s.run.queue
        return await _clear_or_delete(request, q.wipe, q.delete)

    async def interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        self.s.executor.interrupt(body.get("prompt_id") if isinstance(body, dict) else None)
        return web.Response(status=200)

    async def free(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _server_error()
        if body.get("free_memory"):
            self.s.run.cache.clear()
        return web.Response(status=200)

    async def post_history(self, request: web.Request) -> web.Response:
        q = self.s.run.queue
        return await _clear_or_delete(request, q.wipe_history, q.delete_history)

    # ----- files -----------------------------------------------------------------
    async def upload_image(self, request: web.Request) -> web.Response:
        """`/upload/image` and `/upload/mask` (the mask is stored as sent, not composited)."""
        s = self.s
        post = await request.post()
        image = post.get("image")
        kind = post.get("type") or "input"
        if kind not in FOLDER_TYPES:
            return _server_error()
        if not isinstance(image, web.FileField):
            return web.Response(status=400)
        filename = image.filename
        if not filename:
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", ""))
        if escapes(posixpath.join(subfolder, filename)):
            return web.Response(status=400)
        overwrite = post.get("overwrite") in ("true", "1")
        name = s.files.upload(kind, subfolder, filename, image.file.read(), overwrite)
        if kind == "input":
            s.catalog.set_input_files(s.files.names("input"))
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def view(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        kind, _, filename = split_annotated(query["filename"], default_type="")
        raw = query["filename"]
        if not filename or raw.startswith("/") or ".." in raw:
            return web.Response(status=400)
        kind = kind or query.get("type", "output")
        if kind not in FOLDER_TYPES:
            return web.Response(status=400)
        subfolder = query.get("subfolder", "")
        if escapes(subfolder):
            return web.Response(status=403)
        data = self.s.files.get(kind, subfolder, posixpath.basename(filename))
        if data is None:
            return web.Response(status=404)
        preview, channel = query.get("preview"), query.get("channel")
        if preview is None and channel in (None, "rgba"):
            body, ctype = data, mimetypes.guess_type(filename)[0] or "application/octet-stream"
        else:
            body, ctype = render_view(data, preview=preview, channel=channel)
        return web.Response(body=body, content_type=ctype,
                            headers={"Content-Disposition": f'filename="{filename}"'})
