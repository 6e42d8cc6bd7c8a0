"""`FakeComfyServer`: an in-process stand-in for a ComfyUI 0.3.75 server, with fault switches."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
import uuid
from typing import Any

from aiohttp import web

from .app import Routes
from .catalog import MODEL_FOLDERS, Catalog
from .controls import Faults, NodeFailureRule, PostFailure, Settings
from .executor import Executor
from .hostile import Hostile
from .hub import Hub
from .media import FileStore
from .nodes import NodeCost, NodeFailure, PromptCost, default_node_cost
from .state import ExecutionRecord, PromptQueue, QueueItem, RunState

log = logging.getLogger(__name__)

DEFAULT_MODELS: dict[str, list[str]] = {"upscale_models": ["tiny_compact_x2.safetensors"]}
_RAM = 25276510208


class FakeComfyServer:
    """A fake ComfyUI HTTP/WebSocket server running on the current asyncio loop.

    Several instances can share one loop. All simulated durations (node costs,
    `history_delay`, foreign jobs) are in seconds at speed 1 and divided by `speed`.
    """

    hub: Hub        #: per-process state, replaced by `_new_process` (a restart)
    run: RunState

    def __init__(self, *, speed: float = 1.0, object_info: dict[str, Any] | None = None,
                 cost: PromptCost | None = None, node_cost: NodeCost | None = None,
                 history_delay: float = 0.3, models: dict[str, list[str]] | None = None,
                 vram_total: int = _RAM, vram_free: int = _RAM - 907698176,
                 ram_total: int = _RAM, ram_free: int = _RAM - 907698176,
                 device_name: str = "cpu", device_type: str = "cpu",
                 cors_origin: str | None = None, max_upload_size: int = 104857600) -> None:
        """
        Args:
            speed: divides every simulated duration (10 = ten times faster).
            object_info: node catalog to serve and validate against (default: real 0.3.75 dump).
            cost: `cost(prompt) -> seconds` for a whole prompt, spread over its executed nodes.
            node_cost: `node_cost(node_id, prompt) -> seconds` per node (default: `default_node_cost`).
            history_delay: seconds between `execution_success` and the history write
                (then `status`, then `executing null`), as the measured race.
            models: model folder -> file names (`/models/{folder}` and loader combos).
            cors_origin: behave as `--enable-cors-header ORIGIN` (no origin check).
        """
        self.settings = Settings(speed=speed, history_delay=history_delay, cost=cost,
                                 node_cost=node_cost or default_node_cost)
        self.faults = Faults()
        #: per-path hostile answers (huge or endless bodies, redirects, nasty error texts)
        self.hostile = Hostile()
        self.files = FileStore()
        self.catalog = Catalog(object_info)
        self.models: dict[str, list[str]] = {f: [] for f in MODEL_FOLDERS}
        self.set_models({**DEFAULT_MODELS, **(models or {})})
        self.vram_total, self.vram_free = vram_total, vram_free
        self.ram_total, self.ram_free = ram_total, ram_free
        self.device_name, self.device_type = device_name, device_type
        #: what the monitoring agent's route answers (None: no agent, 404)
        self.agent_stats: dict[str, Any] | None = None
        self.cors_origin = cors_origin
        self.max_upload_size = max_upload_size
        #: POST /prompt requests received (including rejected and injected failures).
        self.posts = 0
        #: Every prompt the executor started, in order (survives restarts).
        self.executions: list[ExecutionRecord] = []
        self._max_ws_earlier = 0
        self._host = "127.0.0.1"
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._new_process()

    # ----- lifecycle ------------------------------------------------------------
    def _new_process(self) -> None:
        """Fresh per-process state, as after starting ComfyUI (files on disk survive)."""
        if hasattr(self, "hub"):
            self._max_ws_earlier = max(self._max_ws_earlier, self.hub.max_open)
        self.hub = Hub()
        self.run = RunState(queue=PromptQueue(self._queue_updated))
        self.executor = Executor(self)
        self.files.clear("temp")  # cleanup_temp() at startup
        self.faults.not_hung.set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start listening (port 0 picks a free port); returns the base URL.

        Every start is a fresh process: empty queue, history and cache, `number` 0.
        """
        if self._runner is not None:
            raise RuntimeError("fake ComfyUI server already running")
        self._new_process()
        runner = web.AppRunner(Routes(self).app(), handle_signals=False, access_log=None,
                               shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._tasks = [asyncio.create_task(self.hub.publish_loop(), name=f"fake-comfy-{self._port}-ws"),
                       asyncio.create_task(self.executor.run_forever(), name=f"fake-comfy-{self._port}-exec")]
        return self.url

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<FakeComfyServer {self.url} {state} speed={self.settings.speed}>"

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123` (valid once started)."""
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def _halt(self, *, abrupt: bool) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.hub.close_all(abrupt=abrupt)
        if abrupt and runner.server is not None:
            for conn in list(runner.server.connections):
                if conn.transport is not None:
                    conn.transport.abort()
        await runner.cleanup()

    async def stop(self) -> None:
        """Shut down cleanly: sockets get a close frame; queued prompts are dropped."""
        await self._halt(abrupt=False)

    async def kill(self) -> None:
        """Crash: stop listening, reset every connection, lose the queue and the running prompt."""
        await self._halt(abrupt=True)

    async def restart(self) -> str:
        """Come back on the same port like a restarted ComfyUI.

        History, queue, cache and temp files are gone and `number` starts at 0 again;
        input and output files (and so the SaveImage counters) survive, as on disk.
        """
        if self._runner is not None:
            await self.kill()
        return await self.start(self._host, self._port)

    async def __aenter__(self) -> FakeComfyServer:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # ----- faults -----------------------------------------------------------------
    def fail_next_posts(self, n: int, status: int = 500, *, enqueue: bool = False) -> None:
        """Answer the next `n` POST /prompt with `status`.

        With `enqueue=True` the prompt is queued (and runs) before the error is
        returned, like a response lost on the way back.
        """
        self.faults.post_failures.append(PostFailure(n, status, enqueue))

    def serve_bad_json(self, path: str, body: Any | None) -> None:
        """Answer GET ``path`` (``/system_stats`` or ``/queue``) with ``body`` (None: the real answer again)."""
        if body is None:
            self.faults.bad_answers.pop(path, None)
        else:
            self.faults.bad_answers[path] = body

    def hang(self) -> None:
        """Executions stall (no more messages) while HTTP keeps answering."""
        self.faults.not_hung.clear()

    def unhang(self) -> None:
        self.faults.not_hung.set()

    async def drop_websockets(self, *, abrupt: bool = False) -> int:
        """Close every WebSocket now (close frame, or TCP reset if `abrupt`); returns how many."""
        n = len(self.hub.open)
        await self.hub.close_all(abrupt=abrupt)
        return n

    def fail_node(self, class_type: str, exception_message: str, *,
                  exception_type: str = "RuntimeError", times: int | None = None) -> None:
        """Make nodes of `class_type` raise at run time (`execution_error`), `times` times or always."""
        self.faults.node_failures[class_type] = NodeFailureRule(
            NodeFailure(exception_type, exception_message), times)

    def clear_node_failures(self) -> None:
        self.faults.node_failures.clear()

    def set_speed(self, speed: float) -> None:
        """Change the speed; applies from the next node or progress tick."""
        self.settings.speed = speed

    def set_vram(self, total: int | None = None, free: int | None = None) -> None:
        """Change what `/system_stats` reports for the device."""
        if total is not None:
            self.vram_total = total
        if free is not None:
            self.vram_free = free

    def set_models(self, models: dict[str, list[str]]) -> None:
        """Set the files of some model folders (others keep theirs)."""
        for folder, files in models.items():
            self.models[folder] = list(files)
        self.catalog.set_models(self.models)

    def add_foreign_job(self, seconds: float, *, client_id: str | None = None) -> str:
        """Queue a prompt from another client (e.g. the web UI) taking `seconds`; returns its id.

        It shows in `/queue` and in `status` counts; its events go to `client_id` only.
        """
        cid = client_id or uuid.uuid4().hex
        prompt = {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1,
                                                          "color": random.randrange(1 << 24)}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }
        item = QueueItem(self.run.number.next(), str(uuid.uuid4()), prompt,
                         {"client_id": cid, "create_time": int(time.time() * 1000)}, ["2"],
                         fixed_seconds=seconds)
        self.run.queue.put(item)
        return item.prompt_id

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Same as `POST /interrupt`."""
        self.executor.interrupt(prompt_id)

    # ----- observation ---------------------------------------------------------------
    @property
    def executed_prompt_ids(self) -> list[str]:
        """Prompt ids in the order their execution started (a duplicate shows twice)."""
        return [r.prompt_id for r in self.executions]

    @property
    def max_concurrent_ws(self) -> int:
        """Most WebSockets open at the same time so far (superseded duplicates included)."""
        return max(self._max_ws_earlier, self.hub.max_open)

    @property
    def open_websockets(self) -> int:
        return len(self.hub.open)

    @property
    def history(self) -> dict[str, dict[str, Any]]:
        return self.run.queue.history

    @property
    def queue_remaining(self) -> int:
        return self.run.queue.remaining()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until nothing is queued or running and every message went out."""
        deadline = time.monotonic() + timeout
        while self.run.queue.remaining() > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake ComfyUI {self.url} still busy after {timeout} s")
            await asyncio.sleep(0.005)
        await self.hub.drain()

    # ----- shared answers ----------------------------------------------------------------
    def _queue_updated(self) -> None:
        self.hub.send("status", {"status": self.queue_info()})

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.run.queue.remaining()}}

    def server_features(self) -> dict[str, Any]:
        return {"supports_preview_metadata": True, "max_upload_size": self.max_upload_size}

    def system_stats(self) -> dict[str, Any]:
        return {
            "system": {
                "os": "posix", "ram_total": self.ram_total, "ram_free": self.ram_free,
                "comfyui_version": "0.3.75", "required_frontend_version": "1.32.9",
                "installed_templates_version": "0.7.25", "required_templates_version": "0.7.25",
                "python_version": sys.version, "pytorch_version": "2.13.0+cpu", "embedded_python": False,
                "argv": ["main.py", "--cpu", "--listen", self._host, "--port", str(self._port),
                         "--disable-api-nodes", "--disable-auto-launch"],
            },
            "devices": [{"name": self.device_name, "type": self.device_type, "index": None,
                         "vram_total": self.vram_total, "vram_free": self.vram_free,
                         "torch_vram_total": self.vram_total, "torch_vram_free": self.vram_free}],
        }
