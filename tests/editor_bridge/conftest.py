"""Fixtures of the editor bridge's tests: both frontends, and one ready page per frontend per session.

* ``frontend_urls``: ``{"1.32.9": url, "1.58.1": url}``: the first shared real server (the
  frontend ComfyUI 0.3.75 ships) and one more instance of the same install serving the newest
  ``comfyui-frontend-package`` (``--front-end-root``; provisioned once into the user cache).
  With ``RYVEN_COMFY_REUSE_SERVERS=1`` that instance runs on port 18191 in
  ``<cache>/local-servers-frontend-1.58.1`` and is left running; otherwise it starts in the
  session temp dir on a free port and stops at session end.
* ``editor_pages``: ``{version: EditorPage}``, loaded once (pages are slow to start: reuse them).
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.real_servers import _reuse

T = TypeVar("T")
NEW_FRONTEND_PORT = 18191
FRONTENDS = ("1.32.9", "1.58.1")


@pytest.fixture(scope="session")
def newer_frontend_server(real_servers: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a local ComfyUI 0.3.75 serving frontend 1.58.1."""
    from comfy_backend.local.frontend import ensure_frontend, frontend_args
    from comfy_backend.local.instances import default_state_dir, start_local_servers, stop_local_servers
    from comfy_backend.local.processes import port_in_use

    static = ensure_frontend()
    if _reuse():
        state_dir = default_state_dir().expanduser().resolve().parent / "local-servers-frontend-1.58.1"
        port = NEW_FRONTEND_PORT
    else:
        state_dir = tmp_path_factory.mktemp("frontend-1.58.1").resolve()
        port = next(p for p in range(18291, 18391) if not port_in_use(p))
    servers = start_local_servers(1, base_port=port, state_dir=state_dir, extra_args=frontend_args(static))
    try:
        yield servers[0].url
    finally:
        if not _reuse():
            stop_local_servers(state_dir)


@pytest.fixture(scope="session")
def frontend_urls(real_server: str, newer_frontend_server: str) -> dict[str, str]:
    return {"1.32.9": real_server, "1.58.1": newer_frontend_server}


@pytest.fixture(scope="session")
def editor_pages(qapp: Any, frontend_urls: dict[str, str]) -> Iterator[dict[str, Any]]:
    from comfy_backend import ServerConfig
    from editor_bridge import EditorPage, wait

    pages = {v: EditorPage(ServerConfig(id=f"fe{v.replace('.', '_')}", url=u)) for v, u in frontend_urls.items()}
    for p in pages.values():
        p.load()   # both load at once
    for p in pages.values():
        wait(p.load(), 180)
    yield pages
    for p in pages.values():
        p.close()   # deleted page first, then profile, by the next event loop or close_all() at exit


@pytest.fixture(autouse=True)
def _collect_qt_garbage_here() -> Iterator[None]:
    """Garbage a test leaves (a failed wait's traceback holds its pages) is collected on the GUI
    thread, not by a cyclic GC that a backend thread happens to trigger later."""
    yield
    import gc

    from editor_bridge import flush_deletions

    gc.collect()
    flush_deletions()


@pytest.fixture(params=FRONTENDS)
def page(request: pytest.FixtureRequest, editor_pages: dict[str, Any]) -> Any:
    return editor_pages[request.param]


class LoopThread:
    """An asyncio loop in a thread, for small aiohttp servers while Qt's loop runs in the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def http_app(routes: dict[str, Callable[..., Any]]) -> Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]:
    """A tiny aiohttp server: ``{path: handler}``; returns (url, stop)."""
    from aiohttp import web

    async def start() -> tuple[str, Callable[[], Awaitable[None]]]:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}", runner.cleanup

    return start


SAMPLE = Path(__file__).with_name("sample_workflow.json")
