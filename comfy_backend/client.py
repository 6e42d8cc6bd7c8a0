"""ComfyClient: one async HTTP client per ComfyUI server — its endpoints.

Requests go through ``transport.ServerTransport`` (URL, credentials, TLS, bounded answers,
failures mapped into the ``errors`` tree); this class holds ComfyUI's endpoints and what it
caches of them. WebSocket events live in ``stream.EventStream``.
"""
from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from typing import Any

import aiohttp

from .bounded import Sink
from .config import ServerConfig
from .errors import ServerHTTPError, ValidationRejected
from .transport import ServerTransport, parse_node_errors


def new_client_id() -> str:
    """A client_id unique to one of our connections (never the web UI's)."""
    return "ryven-comfy-" + uuid.uuid4().hex


class ComfyClient(ServerTransport):
    """HTTP side of one server. WebSocket events live in ``stream.EventStream``."""

    def __init__(self, config: ServerConfig, session: aiohttp.ClientSession, *, timeout: float = 30.0) -> None:
        super().__init__(config, session, timeout=timeout)
        self.client_id = new_client_id()
        self.own_client_ids: set[str] = {self.client_id}  # every id we have used (for "foreign" counting)
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
