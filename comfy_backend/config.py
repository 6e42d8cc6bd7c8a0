"""Servers configuration: parsed once at the edge (YAML or JSON), validated by pydantic.

Shape::

    servers:
      - id: pc1
        url: http://127.0.0.1:8188
        tags: [sdxl]
        name: Living-room PC          # optional
        enabled: true                 # optional
        max_concurrent: 2             # our jobs submitted to it at once (1 running + 1 waiting)
        auth:                         # optional; secrets never stand in the file
          kind: bearer                # none | bearer | basic | headers
          token_env: PC1_TOKEN        # or token_file: ~/.secrets/pc1
        ca_file: /path/ca.pem         # optional, for https/wss with a private CA
    defaults:                         # optional pool-wide settings
      health_interval: 2.0
      max_attempts: 3

Secrets are resolved from the environment or a separate file at connect time,
and are never kept in the model's repr, in projects or in logs.
"""
from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .errors import ConfigError

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AuthConfig(BaseModel):
    """How to authenticate to one server. Only *where* the secret lives is stored."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "bearer", "basic", "headers"] = "none"
    token_env: str | None = None
    token_file: Path | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    # Header name -> environment variable holding its value (e.g. an API key header).
    headers_env: dict[str, str] = Field(default_factory=dict)
    # Non-secret extra headers, sent as they are.
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> AuthConfig:
        if self.kind == "bearer" and not (self.token_env or self.token_file):
            raise ValueError("bearer auth needs token_env or token_file (tokens are never written in the config)")
        if self.kind == "basic":
            if not self.username:
                raise ValueError("basic auth needs username")
            if not (self.password_env or self.password_file):
                raise ValueError("basic auth needs password_env or password_file")
        if self.kind == "headers" and not (self.headers or self.headers_env):
            raise ValueError("headers auth needs headers or headers_env")
        return self


_URL_HINT = "url must look like http://host:port or https://host[:port][/prefix]"


def check_url(v: str) -> str:
    """A server URL, normalised; ValueError with a message a user can act on otherwise.

    Checked here, when the config is read, so that a bad port or host never becomes a
    traceback deep inside the HTTP client. Credentials in the URL are refused: they would
    be echoed wherever the URL is shown.
    """
    v = v.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
        raise ValueError(_URL_HINT)
    try:
        parts = urllib.parse.urlsplit(v)
        port = parts.port  # raises ValueError for ":abc" or a port out of range
        host = parts.hostname
    except ValueError as exc:
        reason = str(exc)
        if "Port" in reason or "port" in reason:
            raise ValueError(f"url has a bad port ({reason.lower()}); {_URL_HINT}") from None
        raise ValueError(f"url is malformed ({reason}); {_URL_HINT}") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "url must not carry a user name or password (they would show in logs and status output); "
            "use auth: {kind: basic, username: ..., password_env: VAR} or password_file instead")
    if not host:
        raise ValueError(f"url has no host; {_URL_HINT}")
    if port == 0:
        raise ValueError(f"url has a bad port (0); {_URL_HINT}")
    if parts.query or parts.fragment:
        raise ValueError(f"url must not have a query or fragment; {_URL_HINT}")
    return v


class Limits(BaseModel):
    """The most we accept from one server in one answer; beyond it the answer is cut with an error.

    Every byte a server sends is bounded, so a buggy or hostile server cannot exhaust memory
    or disk. Set in the config's ``defaults`` (sizes in bytes).
    """

    model_config = ConfigDict(extra="forbid")

    #: one output file downloaded from ``/view`` (streamed to disk, never held in memory)
    max_output_bytes: int = Field(default=2 * 2**30, gt=0)
    #: one output file fetched into memory (thumbnails, handing an image to the next server)
    max_output_memory_bytes: int = Field(default=512 * 2**20, gt=0)
    #: one WebSocket message (previews and SaveImageWebsocket images included)
    max_ws_message_bytes: int = Field(default=64 * 2**20, gt=0)
    #: ``/object_info`` (real servers with many node packs send a few MB)
    max_object_info_bytes: int = Field(default=256 * 2**20, gt=0)
    #: any other JSON answer
    max_json_bytes: int = Field(default=16 * 2**20, gt=0)
    #: what is kept of an error answer's body
    max_error_body_bytes: int = Field(default=4096, gt=0)


class ServerConfig(BaseModel):
    """One ComfyUI server."""

    model_config = ConfigDict(extra="forbid")

    id: str
    url: str
    name: str | None = None
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    # Our jobs submitted to it at once. ComfyUI runs one prompt at a time; a second one
    # waiting in its queue means the GPU never idles between our jobs.
    max_concurrent: int = Field(default=2, ge=1, le=64)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    ca_file: Path | None = None
    verify_tls: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError("id must be 1-64 letters, digits, '_', '.', '-' and start with a letter or digit")
        return v

    # Set from the config's ``defaults`` by ServersConfig; a lone ServerConfig gets the defaults.
    _limits: Limits = PrivateAttr(default_factory=lambda: Limits())

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return sorted({t.strip() for t in v if t.strip()})

    @property
    def limits(self) -> Limits:
        """How many bytes this server may send us per answer (from the config's ``defaults``)."""
        return self._limits

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:] + "/ws" if self.url.startswith("http") else self.url + "/ws"


class PoolSettings(BaseModel):
    """Pool-wide behaviour; every field has a sensible default."""

    model_config = ConfigDict(extra="forbid")

    health_interval: float = Field(default=2.0, gt=0, le=300)
    request_timeout: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_backoff: float = Field(default=0.5, ge=0)
    # A running attempt with no sign of life (no WS message, no queue change) for this long is hung.
    stall_timeout: float = Field(default=900.0, gt=0)
    # Hard limit for one attempt; None means no limit.
    attempt_timeout: float | None = Field(default=None, gt=0)
    # Health checks failed in a row before a server is offline and its jobs fail over.
    offline_after: int = Field(default=2, ge=1, le=100)
    policy: Literal["default", "round-robin", "least-queue"] = "default"
    # Size limits of server answers (bytes): see Limits.
    max_output_bytes: int = Field(default=Limits().max_output_bytes, gt=0)
    max_output_memory_bytes: int = Field(default=Limits().max_output_memory_bytes, gt=0)
    max_ws_message_bytes: int = Field(default=Limits().max_ws_message_bytes, gt=0)
    max_object_info_bytes: int = Field(default=Limits().max_object_info_bytes, gt=0)
    max_json_bytes: int = Field(default=Limits().max_json_bytes, gt=0)
    max_error_body_bytes: int = Field(default=Limits().max_error_body_bytes, gt=0)

    def limits(self) -> Limits:
        """The size limits as one object (what each server's client uses)."""
        return Limits(**{name: getattr(self, name) for name in Limits.model_fields})


class ServersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    servers: list[ServerConfig]
    defaults: PoolSettings = Field(default_factory=PoolSettings)

    @model_validator(mode="after")
    def _unique(self) -> ServersConfig:
        seen: set[str] = set()
        for s in self.servers:
            if s.id in seen:
                raise ValueError(f"duplicate server id '{s.id}'")
            seen.add(s.id)
        limits = self.defaults.limits()
        for s in self.servers:
            s._limits = limits
        return self

    # The file this config was read from (None when built in memory): where edits are saved.
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this config was read from, or None."""
        return self._source


def _loc(err: Mapping[str, Any], data: Any) -> str:
    """Render a pydantic error location as ``servers[1] (id pc2).url``."""
    parts: list[str] = []
    node = data
    for p in err.get("loc", ()):
        if isinstance(p, int):
            label = f"[{p}]"
            try:
                node = node[p]
                if isinstance(node, dict) and "id" in node:
                    label += f" (id {node['id']})"
            except (IndexError, KeyError, TypeError):
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return "".join(parts) or "top level"


def parse_servers_config(data: Any, source: str = "<config>") -> ServersConfig:
    """Validate already-parsed data; raise ConfigError naming the source and entry."""
    if isinstance(data, list):  # a bare list of servers is accepted too
        data = {"servers": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'servers' list, got {type(data).__name__}")
    try:
        cfg = ServersConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first.get("msg", "invalid").removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {_loc(dict(first), data)}: {msg}{more}") from None
    if not cfg.servers:
        raise ConfigError(f"{source}: the 'servers' list is empty")
    return cfg


def load_servers_config(path: str | os.PathLike[str]) -> ServersConfig:
    """Read a servers config from a YAML or JSON file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{p}: servers config file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: malformed YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    cfg = parse_servers_config(data, str(p))
    check_server_files(cfg, str(p))
    cfg._source = p.resolve()
    return cfg


def check_server_files(cfg: ServersConfig, source: str = "<config>") -> None:
    """Check, when the config is read, what the servers need from this machine.

    Every enabled server's secrets (environment variables, files) must be readable and
    its CA file must exist, so that a missing one is one clear ConfigError now rather
    than an "unreachable" server or a traceback in a connection loop later.
    """
    for server in cfg.servers:
        if not server.enabled:
            continue
        if server.ca_file is not None and server.url.startswith("https"):
            ca = Path(server.ca_file).expanduser()
            if not ca.is_file():
                raise ConfigError(f"{source}: server '{server.id}': CA file {ca} not found (ca_file)")
        try:
            auth_headers(server)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def _read_secret(env: str | None, file: Path | None, what: str, server_id: str) -> str:
    if env:
        val = os.environ.get(env)
        if not val:
            raise ConfigError(f"server '{server_id}': {what} environment variable {env} is not set")
        return val.strip()
    assert file is not None
    fp = Path(file).expanduser()
    try:
        return fp.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"server '{server_id}': cannot read {what} file {fp}: {exc.strerror}") from None


def auth_headers(server: ServerConfig) -> dict[str, str]:
    """Resolve the HTTP headers carrying this server's credentials (never logged)."""
    import base64

    a = server.auth
    headers = dict(a.headers)
    for name, env in a.headers_env.items():
        headers[name] = _read_secret(env, None, f"header {name}", server.id)
    if a.kind == "bearer":
        headers["Authorization"] = "Bearer " + _read_secret(a.token_env, a.token_file, "token", server.id)
    elif a.kind == "basic":
        pw = _read_secret(a.password_env, a.password_file, "password", server.id)
        raw = f"{a.username}:{pw}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return headers
