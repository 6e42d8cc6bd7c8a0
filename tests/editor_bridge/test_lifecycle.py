"""Where and when the bridge's Qt objects die: on the GUI thread, the page before its profile.

A page and its profile deleted on another thread make Chromium CHECK (SIGTRAP, exit 133): this
is what Python's cyclic GC did when a backend thread triggered it with an EditorPage in the
garbage. No server needed: the pages only open about:blank.
"""
from __future__ import annotations

import gc
import threading
from typing import Any

import shiboken6
from qtpy.QtCore import QUrl

from comfy_backend import ServerConfig
from editor_bridge import EditorPage, close_all, flush_deletions
from editor_bridge.lifecycle import held


def _started(name: str) -> EditorPage:
    page = EditorPage(ServerConfig(id=name, url="http://127.0.0.1:9"))
    page.page.setUrl(QUrl("about:blank"))   # makes Chromium's side of the page and profile
    return page


def test_a_page_in_garbage_collected_on_another_thread_is_not_deleted_there(qapp: Any) -> None:
    gc.collect()
    page = _started("gc")
    inner, profile = page.page, page.profile
    cycle: dict[str, Any] = {"page": page}
    cycle["self"] = cycle   # the last reference in a garbage cycle, as a failed wait's traceback makes
    del page, cycle
    worker = threading.Thread(target=gc.collect)
    worker.start()
    worker.join()
    assert shiboken6.isValid(inner) and shiboken6.isValid(profile)   # the application still holds them
    (again,) = [p for p in held if p.server.id == "gc"]
    again.close()
    flush_deletions()
    assert not shiboken6.isValid(inner) and not shiboken6.isValid(profile)


def test_close_deletes_page_then_profile_then_the_editor_page(qapp: Any) -> None:
    page = _started("order")
    order: list[str] = []
    page.page.destroyed.connect(lambda: order.append("page"))
    page.profile.destroyed.connect(lambda: order.append("profile"))
    page.destroyed.connect(lambda: order.append("editor"))
    page.close()
    page.close()   # twice: nothing more
    assert page.closed and not page.is_ready()
    flush_deletions()
    assert order == ["page", "profile", "editor"]


def test_close_all_closes_the_pages_the_application_holds(qapp: Any) -> None:
    pages = [_started(f"all{i}") for i in range(2)]
    profiles = [p.profile for p in pages]
    close_all()
    assert all(p.closed for p in pages) and not any(shiboken6.isValid(pr) for pr in profiles)
