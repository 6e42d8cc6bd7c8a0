"""Helpers to compare what a ComfyUI server says with what another one says (or a capture).

They reduce messages and bodies to their *shape* (types, key sets, error types) so
that a fake and a real server can be compared without ids, timestamps or file names.
Plain aiohttp only: nothing here depends on the project's client.
"""
from __future__ import annotations

import json
import re
import struct
import time
from pathlib import Path
from typing import Any

import aiohttp

#: Recordings of a real ComfyUI 0.3.75 kept in the repo (see tests/data/README.md).
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"
_ID_KEY = re.compile(r"^(\d+|[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
#: Message types that repeat in bursts and are collapsed when comparing sequences.
COLLAPSED = ("status", "progress_state")


def load_capture(name: str) -> Any:
    """A capture file by its path relative to ``CAPTURES`` (e.g. ``runs/preview.history.json``)."""
    return json.loads((CAPTURES / name).read_text())


# ----- WebSocket messages ------------------------------------------------------------
def binary_kind(payload: bytes) -> str:
    """'binary:1' / 'binary:4' from the frame's leading uint32 event type."""
    return f"binary:{struct.unpack('>I', payload[:4])[0]}"


def kind_of(msg: dict | bytes) -> str:
    """The type of a received message: JSON `type`, or 'binary:N'."""
    if isinstance(msg, (bytes, bytearray)):
        return binary_kind(msg)
    return msg["type"]


def captured_messages(name: str) -> list[dict | bytes]:
    """A `runs/*.ws_messages.json` capture as received messages (binary frames as fake bytes)."""
    out: list[dict | bytes] = []
    for m in load_capture(name):
        if m["kind"] == "json":
            out.append(m["msg"])
        else:
            out.append(struct.pack(">I", m["msg"]["event_type"]))
    return out


def type_sequence(messages: list[dict | bytes], collapse: tuple[str, ...] = COLLAPSED) -> list[str]:
    """Message types in order, with runs of the same collapsible type reduced to one."""
    seq: list[str] = []
    for m in messages:
        k = kind_of(m)
        if seq and k == seq[-1] and k in collapse:
            continue
        seq.append(k)
    return seq


def data_keys(messages: list[dict | bytes], collapse: tuple[str, ...] = COLLAPSED) -> list[tuple[str, tuple]]:
    """(type, sorted data keys) per message, collapsed like `type_sequence`."""
    out: list[tuple[str, tuple]] = []
    for m in messages:
        k = kind_of(m)
        keys = tuple(sorted(m["data"])) if isinstance(m, dict) and isinstance(m.get("data"), dict) else ()
        if out and out[-1][0] == k and k in collapse:
            continue
        out.append((k, keys))
    return out


# ----- structural shapes ----------------------------------------------------------------
def shape(obj: Any) -> Any:
    """Key structure of a JSON value: id-like keys become '<id>', leaves become type names."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            key = "<id>" if _ID_KEY.match(str(k)) else k
            if key not in out:
                out[key] = shape(v)
        return out
    if isinstance(obj, list):
        return "list"
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, (int, float)):
        return "number"
    if obj is None:
        return "null"
    return "str"


def history_shape(history_body: dict) -> Any:
    """Shape of a `/history/{id}` body: entry keys, status keys, message kinds, output keys."""
    assert len(history_body) == 1, history_body
    entry = next(iter(history_body.values()))
    return {
        "keys": list(entry),
        "prompt_len": len(entry["prompt"]),
        "extra_data_keys": sorted(entry["prompt"][3]),
        "status": shape(entry["status"]),
        "status_str": entry["status"]["status_str"],
        "completed": entry["status"]["completed"],
        "message_kinds": [m[0] for m in entry["status"]["messages"]],
        "outputs": shape(entry["outputs"]),
        "meta": shape(entry["meta"]),
    }


def validation_summary(status: int, body: Any) -> dict:
    """HTTP status, error.type and per-node error types of a POST /prompt answer."""
    if not isinstance(body, dict) or "error" not in body:
        return {"status": status, "keys": sorted(body) if isinstance(body, dict) else None}
    return {
        "status": status,
        "keys": sorted(body),
        "error_type": body["error"]["type"],
        "error_keys": sorted(body["error"]),
        "node_errors": {nid: sorted(e["type"] for e in ne["errors"])
                        for nid, ne in body["node_errors"].items()},
        "dependent_outputs": {nid: sorted(ne["dependent_outputs"]) for nid, ne in body["node_errors"].items()},
    }


def strip_tracebacks(obj: Any) -> Any:
    """A copy without `traceback` fields (they hold server paths and line numbers)."""
    if isinstance(obj, dict):
        return {k: strip_tracebacks(v) for k, v in obj.items() if k != "traceback"}
    if isinstance(obj, list):
        return [strip_tracebacks(v) for v in obj]
    return obj


# ----- talking to a server ------------------------------------------------------------------
async def receive_until_done(ws: aiohttp.ClientWebSocketResponse, prompt_id: str,
                             timeout: float = 20.0) -> list[dict | bytes]:
    """Messages received until `executing {node: null, prompt_id}` (included)."""
    got: list[dict | bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no completion for {prompt_id}; got {type_sequence(got)}")
        msg = await ws.receive(timeout=left)
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            got.append(data)
            if data["type"] == "executing" and data["data"].get("node") is None \
                    and data["data"].get("prompt_id") == prompt_id:
                return got
        elif msg.type == aiohttp.WSMsgType.BINARY:
            got.append(msg.data)
        else:
            raise ConnectionError(f"socket ended: {msg.type}; got {type_sequence(got)}")


async def drain(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.05) -> list[dict | bytes]:
    """Everything that arrives until the socket is quiet for `quiet` seconds."""
    got: list[dict | bytes] = []
    while True:
        try:
            msg = await ws.receive(timeout=quiet)
        except TimeoutError:
            return got
        if msg.type == aiohttp.WSMsgType.TEXT:
            got.append(json.loads(msg.data))
        elif msg.type == aiohttp.WSMsgType.BINARY:
            got.append(msg.data)
        else:
            return got


async def run_prompt(session: aiohttp.ClientSession, base: str, prompt: dict, client_id: str,
                     ws: aiohttp.ClientWebSocketResponse, **extra: Any) -> tuple[dict, list, dict]:
    """POST a prompt and follow it to the end: (POST body, WS messages, /history/{id} body)."""
    async with session.post(f"{base}/prompt", json={"prompt": prompt, "client_id": client_id, **extra}) as r:
        body = await r.json()
        assert r.status == 200, body
    messages = await receive_until_done(ws, body["prompt_id"])
    async with session.get(f"{base}/history/{body['prompt_id']}") as r:
        history = await r.json()
    return body, messages, history


# ----- prompts used by both suites ----------------------------------------------------------------
def invert_save(color: int, prefix: str = "demo/invert", size: int = 64) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def preview(color: int, batch: int = 2) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": batch, "color": color}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def runtime_error(color: int) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "alpha"}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "demo_err"}},
    }


def invalid_prompts() -> dict[str, dict]:
    """The captured invalid prompts (name -> request prompt), minus the LoadImage one."""
    cases = load_capture("post_prompt_invalid_400.json")
    return {name: c["request_prompt"] for name, c in cases.items()
            if "request_prompt" in c and name != "bad_combo_value"}
