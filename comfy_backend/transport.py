"""ServerTransport: the HTTP plumbing of one ComfyUI server, under ``client.ComfyClient``.

All clients share the pool's single ``aiohttp.ClientSession``; this class adds the server's
base URL, credentials (only on its own origin) and TLS settings to each request, bounds every
answer, follows redirects by hand and maps every failure into the ``errors`` tree. It never
sends an ``Origin`` header (ComfyUI answers 403 to a foreign one).
"""
from __future__ import annotations

import json
import ssl
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

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


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


class ServerTransport:
    """Requests to one server: its URL, credentials, TLS; answers bounded, failures typed."""

    def __init__(self, config: ServerConfig, session: aiohttp.ClientSession, *, timeout: float = 30.0) -> None:
        self.config = config
        self.session = session
        self.timeout = timeout
        self._headers: dict[str, str] | None = None
        self._ssl: ssl.SSLContext | bool = True

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
