"""ComfyClient: one async HTTP client per ComfyUI server.

All clients share the pool's single ``aiohttp.ClientSession``; this class adds
the server's base URL, credentials and TLS settings to each request and maps
every failure into the ``errors`` tree. It never sends an ``Origin`` header
(ComfyUI answers 403 to a foreign one).
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
import urllib.parse
import uuid
from typing import Any

import aiohttp
import yarl

from .bounded import Sink, read_capped, read_prefix, same_origin, size_text, stream_capped
from .config import ServerConfig, auth_headers
from .errors import (
    ConnectionLost,
    NodeError,
    RequestTimeout,
    ResponseTooLarge,
    ServerHTTPError,
    ValidationRejected,
)

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5

def new_client_id() -> str:
    """A client_id unique to one of our connections (never the web UI's)."""
    return "ryven-comfy-" + uuid.uuid4().hex


def parse_node_errors(body: dict[str, Any]) -> list[NodeError]:
    """Flatten ComfyUI's ``node_errors`` mapping into NodeError records."""
    out: list[NodeError] = []
    for node_id, entry in (body.get("node_errors") or {}).items():
        if not isinstance(entry, dict):
            continue
        for err in entry.get("errors") or []:
            extra = err.get("extra_info") or {}
            out.append(
                NodeError(
                    node_id=str(node_id),
                    class_type=entry.get("class_type"),
                    type=str(err.get("type", "")),
                    message=str(err.get("message", "")),
                    details=str(err.get("details", "") or ""),
                    input_name=extra.get("input_name") if isinstance(extra, dict) else None,
                )
            )
    return out


class ComfyClient:
    """HTTP side of one server. WebSocket events live in ``stream.EventStream``."""

    def __init__(self, config: ServerConfig, session: aiohttp.ClientSession, *, timeout: float = 30.0) -> None:
        self.config = config
        self.session = session
        self.timeout = timeout
        self.client_id = new_client_id()
        self.own_client_ids: set[str] = {self.client_id}  # every id we have used (for "foreign" counting)
        self._headers: dict[str, str] | None = None
        self._ssl: ssl.SSLContext | bool = True
        self._object_info: dict[str, Any] | None = None
        self._object_info_lock = asyncio.Lock()
        self._models: dict[str, list[str]] = {}
        self.has_jobs_api: bool | None = None

    def rotate_client_id(self) -> str:
        """A fresh id for a new WebSocket connection.

        ComfyUI drops a client id from its socket table when *any* socket with that id
        closes, even after a newer socket took the id over; a lingering dead socket
        could silence our new one. A new id per connection avoids that; prompts
        submitted under the old id are followed by polling.
        """
        self.client_id = new_client_id()
        self.own_client_ids.add(self.client_id)
        return self.client_id

    # -- plumbing ---------------------------------------------------------
    @property
    def id(self) -> str:
        return self.config.id

    @property
    def base_url(self) -> str:
        return self.config.url

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = auth_headers(self.config)
        return self._headers

    def ssl_context(self) -> ssl.SSLContext | bool:
        """``True`` (aiohttp's default checks), ``False`` (verify_tls off) or a context with our CA."""
        if self._ssl is True and self.config.url.startswith("https"):
            if not self.config.verify_tls:
                self._ssl = False
            elif self.config.ca_file:
                self._ssl = ssl.create_default_context(cafile=str(self.config.ca_file))
            else:
                self._ssl = ssl.create_default_context()
        return self._ssl

    def _where(self, path: str) -> str:
        return f"server '{self.id}' ({self.base_url}{path})"

    def headers_for(self, url: yarl.URL) -> dict[str, str]:
        """Our credentials for ``url``: only on this server's own origin (scheme, host, port).

        A redirect elsewhere (another port counts) gets no credentials at all, whatever the
        auth kind, so a server cannot send us on to collect them.
        """
        return self.headers() if same_origin(url, yarl.URL(self.base_url)) else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        timeout: float | None = None,
        expect: str = "json",
        limit: int | None = None,
        sink: Sink | None = None,
    ) -> Any:
        """Send one request and return its parsed body (json), bytes, or text.

        Every answer is bounded: at most ``limit`` bytes (default: the server's JSON limit)
        are read, and an answer beyond it is cut with ResponseTooLarge. With ``sink``, the
        body is streamed to it in chunks instead of being kept, and the byte count returned.
        Redirects are followed by hand (at most 5) so that credentials never leave the origin.
        """
        limits = self.config.limits
        cap = limit if limit is not None else limits.max_json_bytes
        url = yarl.URL(self.base_url + path)
        to = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    headers=self.headers_for(url),
                    ssl=self.ssl_context(),
                    timeout=to,
                    allow_redirects=False,
                ) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in _REDIRECTS and location:
                        url = resp.url.join(yarl.URL(location))
                        params = None  # the new location carries its own query
                        if resp.status == 303 or (resp.status in (301, 302) and method != "GET"):
                            method, json_body, data = "GET", None, None
                        continue
                    if resp.status >= 400:
                        body = await read_prefix(resp, limits.max_error_body_bytes)
                        raise self._http_error(resp.status, path, body)
                    too_large = self._too_large(path, cap)
                    if sink is not None:
                        return await stream_capped(resp, cap, sink, too_large)
                    raw = await read_capped(resp, cap, too_large)
                    if expect == "bytes":
                        return raw
                    if expect == "text":
                        return raw.decode(resp.get_encoding() if resp.charset else "utf-8", "replace")
                    if not raw.strip():
                        return None
                    try:
                        return json.loads(raw)
                    except (ValueError, RecursionError):
                        # ValueError covers malformed JSON and integers past Python's digit limit.
                        raise ServerHTTPError(
                            f"{self._where(path)} answered with something that is not usable JSON",
                            server=self.id, status=resp.status,
                        ) from None
            raise ServerHTTPError(f"{self._where(path)} redirected more than {_MAX_REDIRECTS} times", server=self.id)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise RequestTimeout(f"{self._where(path)} did not answer within {to.total:g} s", server=self.id) from None
        except aiohttp.ClientSSLError as exc:
            raise ConnectionLost(f"{self._where(path)}: TLS error: {exc}", server=self.id) from None
        except aiohttp.InvalidURL as exc:
            raise ServerHTTPError(f"{self._where(path)}: unusable URL {exc}", server=self.id) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectionLost(f"{self._where(path)} is unreachable: {reason}", server=self.id) from None

    def _too_large(self, path: str, limit: int) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"{self._where(path)} sent more than {size_text(limit)} (the limit for this answer); the transfer was cut",
            server=self.id,
        )

    def _http_error(self, status: int, path: str, body: bytes) -> Exception:
        if status == 400 and path.endswith("/prompt"):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = {}
            err = parsed.get("error") if isinstance(parsed, dict) else None
            err = err if isinstance(err, dict) else {"message": str(err or "invalid prompt")}
            msg = err.get("message") or "invalid prompt"
            if err.get("details") and not parsed.get("node_errors"):
                msg += f": {err['details']}"
            return ValidationRejected(
                f"server '{self.id}' rejected the workflow: {msg}",
                server=self.id,
                error_type=str(err.get("type", "")),
                node_errors=parse_node_errors(parsed) if isinstance(parsed, dict) else [],
                raw=parsed if isinstance(parsed, dict) else {},
            )
        if status in (401, 403):
            hint = "check the server's auth settings" if status == 401 else "check auth, or an Origin/proxy rule"
            return ServerHTTPError(f"{self._where(path)} refused access (HTTP {status}): {hint}", server=self.id, status=status)
        snippet = body[:200].decode("utf-8", "replace").strip().splitlines()  # shown sanitised by printers
        return ServerHTTPError(
            f"{self._where(path)} answered HTTP {status}" + (f": {snippet[0]}" if snippet else ""),
            server=self.id,
            status=status,
        )

    # -- API ----------------------------------------------------------------
    async def system_stats(self, timeout: float | None = None) -> dict[str, Any]:
        stats = await self.request("GET", "/system_stats", timeout=timeout)
        return stats if isinstance(stats, dict) else {}

    async def queue(self) -> dict[str, Any]:
        """``{"queue_running": [...], "queue_pending": [...]}``; items are [number, prompt_id, prompt, extra, outputs]."""
        queue = await self.request("GET", "/queue")
        return queue if isinstance(queue, dict) else {}

    async def submit(
        self,
        prompt: dict[str, Any],
        *,
        prompt_id: str,
        extra_data: dict[str, Any] | None = None,
        front: bool = False,
    ) -> dict[str, Any]:
        """POST /prompt with our client_id and a prompt_id we chose; returns the server's answer."""
        body: dict[str, Any] = {"prompt": prompt, "client_id": self.client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = extra_data
        if front:
            body["front"] = True
        answer = await self.request("POST", "/prompt", json_body=body)
        if not isinstance(answer, dict) or "prompt_id" not in answer:
            raise ServerHTTPError(f"server '{self.id}' gave an unexpected answer to POST /prompt", server=self.id, status=200)
        if answer.get("node_errors"):
            # 0.3.x may accept a prompt while reporting errors on some outputs; treat as rejection.
            raise ValidationRejected(
                f"server '{self.id}' rejected part of the workflow",
                server=self.id,
                error_type="node_errors",
                node_errors=parse_node_errors(answer),
                raw=answer,
            )
        return answer

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of one prompt, or None while it is unknown or unfinished."""
        body = await self.request("GET", f"/history/{prompt_id}")
        if isinstance(body, dict):
            return body.get(prompt_id)
        return None

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt ``prompt_id`` if it is the one running (never a global interrupt unless None)."""
        await self.request("POST", "/interrupt", json_body={"prompt_id": prompt_id} if prompt_id else {})

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        await self.request("POST", "/queue", json_body={"delete": prompt_ids})

    async def delete_history(self, prompt_ids: list[str]) -> None:
        await self.request("POST", "/history", json_body={"delete": prompt_ids})

    async def cancel(self, prompt_id: str) -> None:
        """Cancel one of our prompts wherever it is: queued, running, or finished."""
        await self.delete_queued([prompt_id])
        await self.interrupt(prompt_id)

    async def object_info(self, refresh: bool = False) -> dict[str, Any]:
        """``/object_info``, fetched once per server and cached (it is ~340 KB)."""
        async with self._object_info_lock:
            if self._object_info is None or refresh:
                info = await self.request("GET", "/object_info", timeout=max(self.timeout, 60),
                                          limit=self.config.limits.max_object_info_bytes)
                self._object_info = info if isinstance(info, dict) else {}
            return self._object_info

    @property
    def cached_object_info(self) -> dict[str, Any] | None:
        return self._object_info

    @property
    def cached_models(self) -> dict[str, list[str]]:
        """``/models/<folder>`` lists read so far (folder → files)."""
        return self._models

    async def model_folders(self) -> list[str]:
        body = await self.request("GET", "/models")
        return [str(x) for x in body] if isinstance(body, list) else []

    async def models(self, folder: str, refresh: bool = False) -> list[str]:
        if refresh or folder not in self._models:
            body = await self.request("GET", f"/models/{folder}")
            self._models[folder] = [str(x) for x in body] if isinstance(body, list) else []
        return self._models[folder]

    def forget_caches(self) -> None:
        """After a server restart its node set and model lists may have changed."""
        self._object_info = None
        self._models.clear()
        self.has_jobs_api = None

    async def detect_features(self) -> dict[str, Any]:
        """Feature detection: ``/features`` and whether the newer Jobs API exists."""
        feats: dict[str, Any] = {}
        try:
            feats = await self.request("GET", "/features") or {}
        except ServerHTTPError:
            feats = {}
        try:
            await self.request("GET", "/api/jobs", params={"limit": 1})
            self.has_jobs_api = True
        except ServerHTTPError as exc:
            if exc.status not in (404, 405):
                raise
            self.has_jobs_api = False
        feats["jobs_api"] = self.has_jobs_api
        return feats

    async def upload_image(
        self,
        data: bytes,
        filename: str,
        *,
        subfolder: str = "",
        type: str = "input",
        overwrite: bool = False,
        mask_for: dict[str, str] | None = None,
    ) -> str:
        """Upload an image and return the name to use in a LoadImage input.

        With ``mask_for`` (``{"filename", "subfolder", "type"}`` of an image already on the
        server) the upload goes to ``/upload/mask``, which writes the mask into that image's
        alpha channel, as the web UI's mask editor does.
        """
        form = aiohttp.FormData()
        form.add_field("image", data, filename=filename, content_type="application/octet-stream")
        form.add_field("type", type)
        if subfolder:
            form.add_field("subfolder", subfolder)
        if overwrite:
            form.add_field("overwrite", "true")
        if mask_for is not None:
            form.add_field("original_ref", json.dumps(mask_for))
        body = await self.request("POST", "/upload/mask" if mask_for is not None else "/upload/image", data=form, timeout=max(self.timeout, 120))
        if not isinstance(body, dict) or "name" not in body:
            raise ServerHTTPError(f"server '{self.id}' gave an unexpected upload answer", server=self.id, status=200)
        sub = body.get("subfolder") or ""
        return f"{sub}/{body['name']}" if sub else str(body["name"])

    async def view(self, filename: str, subfolder: str, type: str, *, timeout: float | None = None) -> bytes:
        """Download one output file into memory (exact subfolder and type, as the history gave them).

        Bounded by ``max_output_memory_bytes``; use :meth:`view_to` to save files.
        """
        params = {"filename": filename, "subfolder": subfolder, "type": type}
        data = await self.request("GET", "/view", params=params, expect="bytes", timeout=timeout or max(self.timeout, 300),
                                  limit=self.config.limits.max_output_memory_bytes)
        if not isinstance(data, bytes):
            raise ServerHTTPError(f"server '{self.id}' gave no file for {filename}", server=self.id, status=200)
        return data

    async def view_to(self, filename: str, subfolder: str, type: str, sink: Sink, *, timeout: float | None = None) -> int:
        """Stream one output file to ``sink`` in chunks (memory stays flat); returns its size.

        Bounded by ``max_output_bytes``: a longer (or endless) body is cut with ResponseTooLarge.
        """
        params = {"filename": filename, "subfolder": subfolder, "type": type}
        total = await self.request("GET", "/view", params=params, sink=sink, timeout=timeout or max(self.timeout, 300),
                                   limit=self.config.limits.max_output_bytes)
        return int(total)

    # -- user data: the web UI's workflow store (``<base>/user/default/…``) ----------
    @staticmethod
    def _userdata_path(path: str) -> str:
        # ComfyUI needs the whole path as one encoded segment: a literal "/" falls through to
        # the static files (404).
        return "/userdata/" + urllib.parse.quote(path, safe="")

    async def userdata_get(self, path: str) -> bytes:
        """The bytes of one user file, e.g. ``workflows/x.json`` (ServerHTTPError 404 when absent)."""
        data = await self.request("GET", self._userdata_path(path), expect="bytes")
        return data if isinstance(data, bytes) else b""

    async def userdata_put(self, path: str, data: bytes, *, overwrite: bool = True) -> str:
        """Write one user file (subfolders are created); returns the path the server stored.

        With ``overwrite=False`` an existing file is kept and the server answers 409.
        """
        answer = await self.request("POST", self._userdata_path(path), data=data,
                                    params={"overwrite": "true" if overwrite else "false"})
        return answer if isinstance(answer, str) else path

    async def userdata_list(self, directory: str) -> list[str]:
        """File paths under ``directory`` (recursive, relative to it); empty when it does not exist."""
        try:
            body = await self.request("GET", "/userdata", params={"dir": directory, "recurse": "true"})
        except ServerHTTPError as exc:
            if exc.status == 404:  # "Directory not found" before the first save
                return []
            raise
        return [str(x) for x in body] if isinstance(body, list) else []
