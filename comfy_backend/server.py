"""ServerHandle: one server in the pool — client, event stream, health, capabilities, load.

What its health check reads is checked in ``server_answers``; its figures (the metrics sample of
each check, the snapshot) are built in ``server_figures``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .agent import AGENT_ROUTE
from .aio import wait_event
from .client import ComfyClient
from .config import PoolSettings, ServerConfig
from .errors import ComfyBackendError, ServerError, ServerHTTPError
from .metrics import ServerMetrics
from .models import Health, ServerSnapshot
from .server_answers import BadAnswer, checked_agent, checked_queue, checked_stats
from .server_figures import metrics_sample, server_snapshot
from .stream import EventStream
from .withdraw import Verdict, Withdrawals

log = logging.getLogger(__name__)

_SLOW_MS = 1500.0  # a health check slower than this marks the server degraded
_WS_GRACE_S = 5.0  # a WebSocket down longer than this marks it degraded
HEALTH_TIMEOUT_S = 3.0  # a check not answered within this fails: a hung server is not waited for


class ServerHandle:
    """Everything the pool knows and does about one server."""

    def __init__(
        self,
        config: ServerConfig,
        session: aiohttp.ClientSession,
        settings: PoolSettings,
        order: int,
        on_change: Callable[[ServerHandle], None],
        on_defs: Callable[[ServerHandle], None] | None = None,
        on_verdict: Verdict | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.order = order
        self.client = ComfyClient(config, session, timeout=settings.request_timeout)
        self.stream = EventStream(self.client, on_status=self._on_ws_status, on_connection=self._on_ws_connection)
        self.withdrawals = Withdrawals(self.client, on_verdict)
        self.metrics = ServerMetrics(server_id=config.id)
        self.health = Health.UNKNOWN if config.enabled else Health.DISABLED
        self.last_error: str | None = None
        self.fail_count = 0
        self.in_flight: set[str] = set()          # our job ids submitted here
        self.last_used = 0.0                       # monotonic time we last submitted a job here
        self.queue_running = 0
        self.queue_pending = 0
        self.foreign = 0
        self.stats: dict[str, Any] = {}
        # The monitoring agent (``comfy_backend.agent``): None until asked once per connection,
        # then whether its route answers; its last reading (checked figures only).
        self.agent: bool | None = None
        self.agent_stats: dict[str, float | None] = {}
        self.info_ready = False                    # object_info fetched
        self.info_version = 0                      # bumped whenever node list or model lists change
        # The one home of this server's node definitions (/object_info, read-only), and a
        # version bumped only when their content changes (announced through on_defs).
        self.node_defs: dict[str, Any] | None = None
        self.defs_version = 0
        self._defs_comfy_version: str | None = None  # the ComfyUI version they were read from
        self._defs_loaded = asyncio.Event()
        self._on_change = on_change
        self._on_defs = on_defs
        self._task: asyncio.Task[None] | None = None
        self._checked = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def models(self) -> dict[str, list[str]]:
        """Model files per ``/models`` folder, as last read from the server."""
        return self.client.cached_models

    @property
    def usable(self) -> bool:
        return self.config.enabled and self.health in (Health.ONLINE, Health.DEGRADED)

    @property
    def free_slots(self) -> int:
        return self.config.max_concurrent - len(self.in_flight)

    def start(self) -> None:
        if not self.config.enabled:
            self._checked.set()
            return
        self.stream.start()
        self._task = asyncio.create_task(self._health_loop(), name=f"health:{self.id}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self.withdrawals.close()
        await self.stream.close()

    async def wait_checked(self) -> None:
        await self._checked.wait()

    def check_soon(self) -> None:
        """Run a health check now (e.g. after a connection error in a job)."""
        self._wake.set()

    def abandon(self, job_id: str, prompt_id: str) -> None:
        """A job left this server without a result: withdraw its prompt there (see ``withdraw``)."""
        self.withdrawals.abandon(job_id, prompt_id)

    # -- health ---------------------------------------------------------------
    async def _health_loop(self) -> None:
        while True:
            # Cleared before the check, not after it: a failed check sets it to confirm a hang at
            # once (``_failed``), and clearing it afterwards cost a whole interval (offline at ~5 s
            # after a SIGSTOP instead of ~4 s with a 1 s interval and 2 s timeout).
            self._wake.clear()
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop the checks for good: say so, go on
                log.exception("server %s: health check failed unexpectedly", self.id)
                self._degraded(f"health check failed: {type(exc).__name__}: {exc}")
                self._checked.set()
                self._on_change(self)
            await wait_event(self._wake, self.settings.health_interval)

    def check_timeout(self) -> float:
        """Seconds a health check may take before it counts as failed."""
        return min(max(self.settings.health_interval * 2, 2.0), HEALTH_TIMEOUT_S, self.settings.request_timeout)

    async def check_once(self) -> None:
        if not self.config.enabled and not self.in_flight:  # disabled at run time: not polled any more
            self.health = Health.DISABLED
            self._checked.set()
            self._on_change(self)
            return
        t0 = time.monotonic()
        timeout = self.check_timeout()
        try:
            # Raw answers (the client's helpers would hide a wrong type), each with a bounded wait.
            stats = await self.client.request("GET", "/system_stats", timeout=timeout)
            latency = (time.monotonic() - t0) * 1000.0
            queue = await self.client.request("GET", "/queue", timeout=timeout)
            stats = checked_stats(stats)
            running, pending = checked_queue(queue)
        except ServerError as exc:
            self._failed(str(exc))
        except BadAnswer as exc:
            self._degraded(f"bad answer: {exc}")
        except ComfyBackendError as exc:  # e.g. a secret file missing: permanent until fixed
            self._failed(str(exc))
        else:
            was_down = self.health in (Health.OFFLINE, Health.UNKNOWN)
            self.stats = stats
            self._read_queue(running, pending)
            self.fail_count = 0
            self.last_error = None
            # A socket that cannot stay up (proxy without WebSocket support, flapping
            # network) leaves us polling: usable, but yellow.
            slow = latency > _SLOW_MS or self.stream.down_for() > _WS_GRACE_S
            self.health = Health.DEGRADED if slow else Health.ONLINE
            if was_down:
                self.agent = None  # another process may answer now: ask again
            if self.agent is not False:
                await self._read_agent(timeout)
            self.metrics.add_sample(metrics_sample(self, latency))
            version = (self.stats.get("system") or {}).get("comfyui_version")
            other_version = self.info_ready and version != self._defs_comfy_version
            if was_down or not self.info_ready or other_version:
                await self._load_capabilities(restarted=(was_down or other_version) and self.node_defs is not None)
        self._checked.set()
        self._on_change(self)

    async def _read_agent(self, timeout: float) -> None:
        """Poll the agent's route; a 404 means no agent (asked again after a reconnect)."""
        try:
            raw = await self.client.request("GET", AGENT_ROUTE, timeout=timeout)
        except ServerHTTPError as exc:
            if exc.status == 404:
                if self.agent is None:
                    log.info("server %s: no monitoring agent (%s answers 404): using /system_stats only",
                             self.id, AGENT_ROUTE)
                self.agent = False
            self.agent_stats = {}
            return
        except ServerError as exc:  # a hiccup: the health check decides about the server itself
            log.debug("server %s: agent not read: %s", self.id, exc)
            self.agent_stats = {}
            return
        if self.agent is None:
            log.info("server %s: monitoring agent found", self.id)
        self.agent = True
        self.agent_stats = checked_agent(self.metrics, raw)

    def _failed(self, reason: str) -> None:
        self.fail_count += 1
        self.last_error = reason
        if self.fail_count >= self.settings.offline_after or self.health is Health.UNKNOWN:
            self.health = Health.OFFLINE
        else:
            self.health = Health.DEGRADED
            self._wake.set()  # check again at once: a hang is confirmed (or not) within one timeout
        self.metrics.add_sample(metrics_sample(self, None))
        self.stream.kick()

    def _degraded(self, reason: str) -> None:
        """The server answers, but not as it should: usable with care (yellow), logged once per change."""
        if self.last_error != reason:
            log.warning("server %s: %s", self.id, reason)
        self.last_error = reason
        self.fail_count = 0
        if self.health is not Health.DISABLED:
            self.health = Health.DEGRADED
        self.metrics.add_sample(metrics_sample(self, None))

    def _read_queue(self, running: list[Any], pending: list[Any]) -> None:
        self.queue_running, self.queue_pending = len(running), len(pending)
        mine = self.client.own_client_ids
        foreign = 0
        for item in list(running) + list(pending):
            extra = item[3] if isinstance(item, list) and len(item) > 3 and isinstance(item[3], dict) else {}
            if extra.get("client_id") not in mine:
                foreign += 1
        self.foreign = foreign

    async def _load_capabilities(self, restarted: bool) -> None:
        if restarted:
            # Until read again, jobs wait ("node list not loaded yet") rather than being
            # judged against lists of the server as it was before.
            self.info_ready = False
            self.client.forget_caches()
        try:
            info = await self.client.object_info(refresh=restarted)
            await self.client.detect_features()
            await self._load_models()
            self.info_ready = True
            self.info_version += 1
        except ServerError as exc:
            log.warning("server %s: cannot read its node list: %s", self.id, exc)
        else:
            self._defs_comfy_version = (self.stats.get("system") or {}).get("comfyui_version")
            self._set_defs(info)

    def _set_defs(self, info: dict[str, Any]) -> None:
        self._defs_loaded.set()
        if self.node_defs is not None and (info is self.node_defs or info == self.node_defs):
            return
        self.node_defs = info
        self.defs_version += 1
        if self._on_defs is not None:
            self._on_defs(self)

    async def wait_node_defs(self) -> dict[str, Any]:
        """This server's node definitions, once loaded (they load when it comes online)."""
        await self._defs_loaded.wait()
        assert self.node_defs is not None
        return self.node_defs

    async def _load_models(self) -> None:
        """Every ``/models/<folder>`` list: the model files this server has right now."""
        folders = await self.client.model_folders()
        # Kept in the client's cache; a folder that fails to list keeps its last known files.
        await asyncio.gather(*(self.client.models(f, refresh=True) for f in folders), return_exceptions=True)

    async def refresh_capabilities(self) -> None:
        """Re-read node definitions and model lists (e.g. models were added since start)."""
        if not self.usable:
            return
        try:
            info = await self.client.object_info(refresh=True)
            await self._load_models()
            self.info_version += 1
        except ServerError as exc:
            log.info("server %s: refresh of node list failed: %s", self.id, exc)
        else:
            self._set_defs(info)
        self._on_change(self)

    def _on_ws_status(self, queue_remaining: int) -> None:
        # A push update between polls: queue_remaining counts running + pending.
        mine_there = len(self.in_flight)
        self.foreign = max(queue_remaining - mine_there, 0)
        self._on_change(self)

    def _on_ws_connection(self, up: bool) -> None:
        if not up and self.health is Health.ONLINE:
            self.health = Health.DEGRADED
            self.check_soon()
        self._on_change(self)

    # -- views ---------------------------------------------------------------
    def snapshot(self, removed: bool = False) -> ServerSnapshot:
        """This server as the pool announces it now (see ``server_figures``)."""
        return server_snapshot(self, removed)
