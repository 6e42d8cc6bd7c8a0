"""The run loop of a fake server: one prompt at a time, with the real message sequence.

Per prompt (see comfyui-server.md §5.2): `execution_start`, `execution_cached`, per
node `progress_state` + `executing` (+ `progress` ticks, binary previews, `executed`),
then `execution_success` | `execution_error` | `execution_interrupted`; after
`history_delay` the history entry is stored, `status` is broadcast and
`executing {node: null}` closes the prompt.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import nodes as fake_nodes
from .graph import execution_plan, image_facts, is_link, signatures
from .hub import encode_preview, encode_preview_with_metadata
from .media import norm_subfolder, solid_png, split_annotated, with_text_chunks
from .nodes import NodeFailure
from .state import ExecutionRecord, QueueItem

if TYPE_CHECKING:
    from .server import FakeComfyServer

log = logging.getLogger(__name__)

_PREVIEW_LETTERS = "abcdefghijklmnopqrstupvxyz"  # sic, as in nodes.PreviewImage
_EXEC_TB = '  File "<fake-comfyui>/execution.py", line 510, in execute\n    output_data, output_ui, ... = await get_output_data(...)\n'


def now_ms() -> int:
    return int(time.time() * 1000)


class Interrupted(Exception):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id


class NodeError(Exception):
    def __init__(self, node_id: str, failure: NodeFailure) -> None:
        super().__init__(failure.exception_message)
        self.node_id = node_id
        self.failure = failure


class Progress:
    """The per-prompt progress registry that `progress_state` messages report."""

    def __init__(self, server: FakeComfyServer, prompt_id: str, sid: str | None) -> None:
        self._hub = server.hub
        self._pid = prompt_id
        self._sid = sid
        self._nodes: dict[str, dict[str, Any]] = {}

    def _send(self) -> None:
        nodes = {nid: {"value": s["value"], "max": s["max"], "state": s["state"], "node_id": nid,
                       "prompt_id": self._pid, "display_node_id": nid, "parent_node_id": None,
                       "real_node_id": nid}
                 for nid, s in self._nodes.items()}
        self._hub.send("progress_state", {"prompt_id": self._pid, "nodes": nodes}, self._sid)

    def start(self, node_id: str) -> None:
        self._nodes[node_id] = {"value": 0.0, "max": 1.0, "state": "running"}
        self._send()

    def update(self, node_id: str, value: float, maximum: float) -> None:
        self._nodes[node_id] = {"value": value, "max": maximum, "state": "running"}
        self._send()

    def finish(self, node_id: str) -> None:
        entry = self._nodes.setdefault(node_id, {"value": 0, "max": 1, "state": "pending"})
        entry["state"], entry["value"] = "finished", entry["max"]
        self._send()


class Executor:
    """Takes prompts off the queue and plays them out (one at a time, like ComfyUI)."""

    def __init__(self, server: FakeComfyServer) -> None:
        self.s = server
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.running: QueueItem | None = None
        self._interrupt = False

    # ----- control -----------------------------------------------------------
    def interrupt(self, prompt_id: str | None = None) -> None:
        """`POST /interrupt`: targeted only acts if that prompt is the one running."""
        if prompt_id:
            if self.running is not None and self.running.prompt_id == prompt_id:
                self._interrupt = True
        else:
            self._interrupt = True

    async def run_forever(self) -> None:
        while True:
            item = await self.s.run.queue.get()
            record = ExecutionRecord(item.prompt_id, item.client_id, item.prompt, time.monotonic())
            self.s.executions.append(record)
            self.running = item
            try:
                record.status = await self._execute(item)
            except asyncio.CancelledError:
                record.status = "lost"
                raise
            except Exception:  # e.g. a test's cost callable raised: log it, keep the queue moving
                log.exception("fake comfy: executing %s failed", item.prompt_id)
                record.status = "error"
                if self.s.run.queue.running is item:
                    self.s.run.queue.task_done(item, outputs={}, meta={}, status={
                        "status_str": "error", "completed": False, "messages": []})
            finally:
                record.finished = time.monotonic()
                self.running = None
                self.client_id = None
                self.last_node_id = None

    # ----- helpers -----------------------------------------------------------
    async def _gate(self) -> None:
        await self.s.faults.not_hung.wait()

    async def _sleep(self, unscaled: float) -> None:
        seconds = self.s.settings.scaled(unscaled)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _check_interrupt(self, node_id: str) -> None:
        if self._interrupt:
            raise Interrupted(node_id)

    def _changed_token(self, node_id: str, node: dict[str, Any]) -> object:
        cls = node.get("class_type")
        if cls in fake_nodes.ALWAYS_CHANGED:
            return uuid.uuid4().hex
        if cls in ("LoadImage", "LoadImageMask"):
            data = self.s.files.get(*split_annotated(str(node.get("inputs", {}).get("image", ""))))
            return hash(data) if data is not None else None
        return None

    def _durations(self, item: QueueItem, to_run: list[str]) -> dict[str, float]:
        """Unscaled seconds per node: the node cost model, rescaled to a whole-prompt cost if set."""
        settings = self.s.settings
        weights = {n: max(0.0, settings.node_cost(n, item.prompt)) for n in to_run}
        total = item.fixed_seconds
        if total is None and settings.cost is not None and to_run:
            total = settings.cost(item.prompt)
        if total is None:
            return weights
        wsum = sum(weights.values())
        if wsum <= 0:
            return {n: total / len(to_run) for n in to_run} if to_run else {}
        return {n: total * w / wsum for n, w in weights.items()}

    # ----- one prompt ----------------------------------------------------------
    async def _execute(self, item: QueueItem) -> str:
        hub, pid, cid, prompt = self.s.hub, item.prompt_id, item.client_id, item.prompt
        self.client_id = cid
        self._interrupt = False
        messages: list[list[Any]] = []

        def add_message(event: str, data: dict[str, Any], broadcast: bool = False) -> None:
            data = {**data, "timestamp": now_ms()}
            messages.append([event, data])
            if cid is not None or broadcast:
                hub.send(event, data, cid)

        await self._gate()
        add_message("execution_start", {"prompt_id": pid})
        sigs = signatures(prompt, self._changed_token)
        cached = [n for n in prompt if sigs[n] in self.s.run.cache]
        cache = {sigs[n]: self.s.run.cache[sigs[n]] for n in cached}  # clean_unused()
        self.s.run.cache = cache
        add_message("execution_cached", {"nodes": cached, "prompt_id": pid})

        cached_set = set(cached)
        plan = execution_plan(prompt, item.outputs, cached_set)
        durations = self._durations(item, [n for n in plan if n not in cached_set])
        progress = Progress(self.s, pid, cid)
        ui_outputs: dict[str, dict[str, Any]] = {}
        executed: list[str] = []
        outcome = "success"
        try:
            for node_id in plan:
                if node_id in cached_set:
                    ui = cache[sigs[node_id]]
                    if cid is not None:
                        hub.send("executed", {"node": node_id, "display_node": node_id,
                                              "output": ui.get("output") if ui else None,
                                              "prompt_id": pid}, cid)
                        if ui is not None:
                            ui_outputs[node_id] = ui
                    progress.finish(node_id)
                    continue
                ui = await self._run_node(item, node_id, durations.get(node_id, 0.0), progress)
                if ui is not None:
                    ui_outputs[node_id] = ui
                cache[sigs[node_id]] = ui
                executed.append(node_id)
            add_message("execution_success", {"prompt_id": pid})
        except Interrupted as ex:
            outcome = "interrupted"
            add_message("execution_interrupted", {
                "prompt_id": pid, "node_id": ex.node_id, "node_type": prompt[ex.node_id]["class_type"],
                "executed": list(executed)}, broadcast=True)
        except NodeError as ex:
            outcome = "error"
            add_message("execution_error", self._error_data(item, ex, executed))
        except Exception as ex:  # a bug in the fake: report it like a node failure, keep serving
            log.exception("fake comfy: internal error while executing %s", pid)
            outcome = "error"
            node_id = self.last_node_id or next(iter(prompt), "")
            add_message("execution_error", self._error_data(
                item, NodeError(node_id, NodeFailure(type(ex).__name__, str(ex))), executed))

        self.last_node_id = None
        await self._sleep(self.s.settings.history_delay)
        ok = outcome == "success"
        self.s.run.queue.task_done(
            item,
            outputs={n: u["output"] for n, u in ui_outputs.items()},
            meta={n: u["meta"] for n, u in ui_outputs.items()},
            status={"status_str": "success" if ok else "error", "completed": ok, "messages": messages})
        if cid is not None:
            hub.send("executing", {"node": None, "prompt_id": pid}, cid)
        return outcome

    def _error_data(self, item: QueueItem, ex: NodeError, executed: list[str]) -> dict[str, Any]:
        node = item.prompt.get(ex.node_id, {})
        current_inputs = {}
        for name, value in node.get("inputs", {}).items():
            current_inputs[name] = [f"tensor(<fake output {value[1]} of node {value[0]}>)"] \
                if is_link(value) else [value]
        return {
            "prompt_id": item.prompt_id, "node_id": ex.node_id, "node_type": node.get("class_type"),
            "executed": list(executed),
            "exception_message": f"{ex.failure.exception_message}\n",
            "exception_type": ex.failure.exception_type,
            "traceback": [_EXEC_TB, *ex.failure.traceback],
            "current_inputs": current_inputs,
            "current_outputs": list(item.prompt),
        }

    # ----- one node -------------------------------------------------------------
    async def _run_node(self, item: QueueItem, node_id: str, duration: float,
                        progress: Progress) -> dict[str, Any] | None:
        hub, pid, cid, prompt = self.s.hub, item.prompt_id, item.client_id, item.prompt
        cls = prompt[node_id]["class_type"]
        await self._gate()
        progress.start(node_id)
        self.last_node_id = node_id
        if cid is not None:
            hub.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": pid}, cid)
        self._check_interrupt(node_id)

        failure = self.s.faults.take_node_failure(cls) or fake_nodes.builtin_failure(node_id, prompt)
        if failure is not None:
            await self._sleep(duration)
            raise NodeError(node_id, failure)

        steps = fake_nodes.progress_steps(node_id, prompt)
        if steps:
            png = None
            if cls == "SaveImageWebsocket":
                src = prompt[node_id]["inputs"]["images"]
                f = image_facts(prompt, src[0])
                png = solid_png(f.width, f.height, f.color)
            for k in range(steps):
                await self._sleep(duration / steps)
                await self._gate()
                self._check_interrupt(node_id)
                value = fake_nodes.tick_value(cls, k)
                progress.update(node_id, value, steps)
                new_style = png is not None and self.s.hub.supports_preview_metadata(cid)
                if png is not None and new_style:
                    hub.send_bytes(encode_preview_with_metadata(png, {
                        "node_id": node_id, "prompt_id": pid, "display_node_id": node_id,
                        "parent_node_id": None, "real_node_id": node_id}), cid)
                hub.send("progress", {"value": value, "max": steps, "prompt_id": pid, "node": node_id}, cid)
                if png is not None and not new_style:
                    hub.send_bytes(encode_preview(png), cid)
        else:
            await self._sleep(duration)
        await self._gate()

        ui = self._save_images(item, node_id)
        if ui is not None and cid is not None:
            hub.send("executed", {"node": node_id, "display_node": node_id, "output": ui["output"],
                                  "prompt_id": pid}, cid)
        progress.finish(node_id)
        return ui

    def _save_images(self, item: QueueItem, node_id: str) -> dict[str, Any] | None:
        """SaveImage / PreviewImage: write tiny PNGs, return the node's UI entry."""
        prompt = item.prompt
        node = prompt[node_id]
        kind = fake_nodes.output_kind(node["class_type"])
        src = node.get("inputs", {}).get("images") or node.get("inputs", {}).get("mask")
        if kind is None or not is_link(src):
            return None
        f = image_facts(prompt, src[0])
        if kind == "output":
            prefix = str(node["inputs"].get("filename_prefix", "ComfyUI"))
            prefix = prefix.replace("%width%", str(f.width)).replace("%height%", str(f.height))
            subfolder = norm_subfolder(prefix.rsplit("/", 1)[0] if "/" in prefix else "")
            base = prefix.rsplit("/", 1)[-1]
        else:
            suffix = self.s.run.preview_suffix.setdefault(
                node_id, "".join(random.choice(_PREVIEW_LETTERS) for _ in range(5)))
            subfolder, base = "", f"ComfyUI_temp_{suffix}"
        texts = {"prompt": json.dumps(prompt)}
        for key, value in (item.extra_data.get("extra_pnginfo") or {}).items():
            texts[str(key)] = json.dumps(value)
        png = with_text_chunks(solid_png(f.width, f.height, f.color), texts)
        counter = self.s.files.next_counter(kind, subfolder, base)
        images = []
        for batch_number in range(f.batch):
            name = f"{base.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
            self.s.files.put(kind, subfolder, name, png)
            images.append({"filename": name, "subfolder": subfolder, "type": kind})
            counter += 1
        meta = {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
        return {"meta": meta, "output": {"images": images}}
