"""Detect and load workflow files: UI 0.4 / 1.0 JSON, API JSON, PNG or WebP with metadata.

ComfyUI writes the UI workflow and the API prompt into the images it saves: PNG text
chunks ``workflow`` and ``prompt``; WebP EXIF tags holding ``workflow:{…}`` and
``prompt:{…}``. :func:`load_workflow` returns one :class:`WorkflowFile` whatever the
container, validated against the shipped JSON Schemas and parsed once into the model
the workflow functions take (:attr:`WorkflowFile.model`, a :class:`ParsedWorkflow`); every
failure is a :class:`WorkflowError` naming the file and the place inside it.
"""
from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import WorkflowError
from .parsed import Kind, ParsedWorkflow
from .schema import validate_api, validate_ui

_PNG_SIG = b"\x89PNG\r\n\x1a\n"


@dataclass
class WorkflowFile:
    """A loaded workflow. ``ui`` and/or ``api`` are set; images may carry both."""

    source: str
    container: Literal["json", "png", "webp"]
    ui: dict[str, Any] | None = None
    api: dict[str, Any] | None = None
    _models: dict[str, ParsedWorkflow] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind(self) -> Kind:
        """``ui`` when a UI workflow is present (it is the richer of the two), else ``api``."""
        return "ui" if self.ui is not None else "api"

    @property
    def version(self) -> str | None:
        """``"0.4"`` or ``"1.0"`` for UI workflows (the shape of the top level), None for API."""
        if self.ui is None:
            return None
        return "1.0" if self.ui.get("version") == 1 else "0.4"

    @property
    def model(self) -> ParsedWorkflow:
        """The parsed model of the richer half (the UI workflow when there is one)."""
        return self.parsed(self.kind)

    def parsed(self, kind: Kind) -> ParsedWorkflow:
        """The parsed model of the ``ui`` or ``api`` half (built once; WorkflowError if absent)."""
        raw = self.ui if kind == "ui" else self.api
        if raw is None:
            raise WorkflowError(f"{self.source}: the file holds no {'UI workflow' if kind == 'ui' else 'API prompt'}")
        model = self._models.get(kind)
        if model is None or model.raw is not raw:
            model = self._models[kind] = parse_ui(raw, self.source) if kind == "ui" else ParsedWorkflow(raw, "api", self.source)
        return model


def parse_ui(data: dict[str, Any], source: str) -> ParsedWorkflow:
    """The model of a schema-valid UI workflow, its graph built now (duplicate ids, bad links → WorkflowError)."""
    model = ParsedWorkflow(data, "ui", source)
    try:
        model.graph  # noqa: B018  (built for its checks; cached on the model)
    except WorkflowError as exc:
        raise WorkflowError(f"{source}: {exc}") from None
    return model


def _ui_file(data: Any, source: str, container: Literal["json", "png", "webp"] = "json") -> WorkflowFile:
    model = parse_ui(validate_ui(data, source), source)
    wf = WorkflowFile(source, container, ui=model.raw)
    wf._models["ui"] = model
    return wf


def detect(data: Any) -> Kind | None:
    """``ui``, ``api`` or None for parsed JSON data."""
    if isinstance(data, dict):
        if isinstance(data.get("nodes"), list):
            return "ui"
        if data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
            return "api"
        if isinstance(data.get("prompt"), dict) and detect(data["prompt"]) == "api":
            return "api"
    return None


#: the largest workflow file (or image carrying one) read; bigger ones are refused before parsing
MAX_FILE_BYTES = 64 * 2**20
#: the largest text a PNG text chunk may inflate to (a small compressed chunk can inflate to GBs)
MAX_TEXT_BYTES = 64 * 2**20
#: the most nodes a workflow may have (subgraph definitions included), checked before validation
MAX_NODES = 100_000


def _check_size(data: Any, source: str) -> None:
    """Refuse a workflow with more than MAX_NODES nodes before any expensive validation."""
    count = 0
    if isinstance(data, dict):
        nodes = data.get("nodes")
        if isinstance(nodes, list):
            count = len(nodes)
            subgraphs = (data.get("definitions") or {}).get("subgraphs") if isinstance(data.get("definitions"), dict) else None
            for sg in subgraphs if isinstance(subgraphs, list) else []:
                if isinstance(sg, dict) and isinstance(sg.get("nodes"), list):
                    count += len(sg["nodes"])
        else:
            count = len(data)
    if count > MAX_NODES:
        raise WorkflowError(f"{source}: {count} nodes is more than the limit of {MAX_NODES:,} nodes")


def _inflate(data: bytes, source: str) -> bytes:
    """zlib-inflate a PNG text chunk, refusing one that inflates beyond MAX_TEXT_BYTES."""
    d = zlib.decompressobj()
    out = d.decompress(data, MAX_TEXT_BYTES)
    if d.unconsumed_tail:
        raise WorkflowError(f"{source}: a PNG text chunk inflates to more than {MAX_TEXT_BYTES // 2**20} MB; refused")
    return out


def parse_json_text(text: str | bytes, source: str) -> Any:
    """JSON with Python's extensions (``NaN`` appears in real prompts); errors name line and column."""
    try:
        return json.loads(text)
    except UnicodeDecodeError:
        raise WorkflowError(f"{source}: not a UTF-8 text file") from None
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise WorkflowError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise WorkflowError(f"{source}: unusable JSON: {str(exc).split(';')[0]}") from None


def from_json(data: Any, source: str = "workflow") -> WorkflowFile:
    """Classify and validate already-parsed JSON."""
    _check_size(data, source)
    kind = detect(data)
    if kind == "ui":
        return _ui_file(data, source)
    if kind == "api":
        if "prompt" in data and "class_type" not in data.get("prompt", {}):
            data = data["prompt"]
        return WorkflowFile(source, "json", api=validate_api(data, source))
    if isinstance(data, dict) and isinstance(data.get("workflow"), dict):
        # {"workflow": ui, "prompt"?: api} as some tools save them
        wf = from_json(data["workflow"], f"{source}: workflow")
        if isinstance(data.get("prompt"), dict):
            wf.api = validate_api(data["prompt"], f"{source}: prompt")
        wf.source = source
        return wf
    if isinstance(data, dict) and not data:
        raise WorkflowError(f"{source}: the workflow is empty")
    raise WorkflowError(f"{source}: neither a UI workflow (no 'nodes' array) nor an API prompt "
                        "(objects with 'class_type')")


def load_bytes(raw: bytes, source: str = "workflow") -> WorkflowFile:
    """Load a workflow from file contents: JSON, PNG or WebP."""
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowError(f"{source}: {len(raw) / 2**20:.0f} MB is more than the limit of {MAX_FILE_BYTES // 2**20} MB")
    if raw.startswith(_PNG_SIG):
        return _from_texts(_png_texts(raw, source), source, "png")
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return _from_texts(_webp_texts(raw, source), source, "webp")
    return from_json(parse_json_text(raw, source), source)


def load_workflow(path: str | Path) -> WorkflowFile:
    """Read and validate a workflow file of any supported kind."""
    p = Path(path)
    if not p.is_file():
        raise WorkflowError(f"{p}: workflow file not found")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:  # refused before reading it into memory
            raise WorkflowError(f"{p}: {size / 2**20:.0f} MB is more than the limit of {MAX_FILE_BYTES // 2**20} MB")
        raw = p.read_bytes()
    except OSError as exc:
        raise WorkflowError(f"{p}: cannot read: {exc.strerror}") from None
    return load_bytes(raw, str(p))


# -- image containers -----------------------------------------------------------------
def _from_texts(texts: dict[str, str], source: str, container: Literal["png", "webp"]) -> WorkflowFile:
    wf = WorkflowFile(source, container)
    if "workflow" in texts:
        data = parse_json_text(texts["workflow"], f"{source}: workflow metadata")
        _check_size(data, f"{source}: workflow metadata")
        if detect(data) == "ui":
            where = f"{source}: workflow metadata"
            wf.ui = validate_ui(data, where)
            wf._models["ui"] = parse_ui(wf.ui, where)
    if "prompt" in texts:
        data = parse_json_text(texts["prompt"], f"{source}: prompt metadata")
        _check_size(data, f"{source}: prompt metadata")
        if detect(data) == "api":
            wf.api = validate_api(data, f"{source}: prompt metadata")
    if wf.ui is None and wf.api is None:
        raise WorkflowError(f"{source}: the image carries no ComfyUI workflow or prompt metadata")
    return wf


def _png_texts(raw: bytes, source: str) -> dict[str, str]:
    """tEXt/zTXt/iTXt chunks of a PNG, parsed by hand (no decoding of the image)."""
    out: dict[str, str] = {}
    pos = len(_PNG_SIG)
    while pos + 8 <= len(raw):
        length = int.from_bytes(raw[pos:pos + 4], "big")
        ctype = raw[pos + 4:pos + 8]
        body = raw[pos + 8:pos + 8 + length]
        if len(body) < length:
            raise WorkflowError(f"{source}: truncated PNG (chunk {ctype!r} at byte {pos})")
        pos += 12 + length
        try:
            if ctype == b"tEXt":
                k, _, v = body.partition(b"\0")
                out[k.decode("latin-1")] = v.decode("utf-8", "replace")
            elif ctype == b"zTXt":
                k, _, rest = body.partition(b"\0")
                out[k.decode("latin-1")] = _inflate(rest[1:], source).decode("utf-8", "replace")
            elif ctype == b"iTXt":
                k, _, rest = body.partition(b"\0")
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _tkey, _, text = rest.partition(b"\0")
                out[k.decode("latin-1")] = (_inflate(text, source) if compressed else text).decode("utf-8", "replace")
        except (zlib.error, IndexError):
            raise WorkflowError(f"{source}: corrupt PNG text chunk {ctype.decode('latin-1')}") from None
        if ctype == b"IEND":
            break
    return out


def _webp_texts(raw: bytes, source: str) -> dict[str, str]:
    """``workflow``/``prompt`` from the EXIF of a WebP (ComfyUI stores ``key:json`` strings in tags)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        raise WorkflowError(f"{source}: reading WebP metadata needs Pillow") from None
    out: dict[str, str] = {}
    try:
        with Image.open(io.BytesIO(raw)) as im:
            exif = im.getexif()
            for value in exif.values():
                _take_prefixed(value, out)
            for ifd_id in (0x8769,):
                for value in exif.get_ifd(ifd_id).values():
                    _take_prefixed(value, out)
    except WorkflowError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise WorkflowError(f"{source}: unreadable WebP image ({type(exc).__name__})") from None
    return out


def _take_prefixed(value: Any, out: dict[str, str]) -> None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return
    key, sep, rest = value.partition(":")
    if sep and key.lower() in ("workflow", "prompt") and rest.lstrip().startswith("{"):
        out[key.lower()] = rest
