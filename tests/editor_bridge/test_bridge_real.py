"""The bridge against the real web UI of real servers: frontend 1.32.9 and 1.58.1, offscreen.

One page per frontend per session (``editor_pages``): pages are slow to start, so the tests
reuse them and each push replaces the active tab's graph.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from comfy_backend import ServerConfig, WorkflowError
from comfy_backend.workflow import expose, list_fields
from editor_bridge import (
    EditorPage,
    FrontendUnavailable,
    MissingNodeTypes,
    PageTimeout,
    pull,
    push,
    wait,
)
from editor_bridge.markers import MARKER_KEY
from tests.editor_bridge.conftest import SAMPLE, http_app

pytestmark = pytest.mark.real

W = 60  # s: the most any one call may take before the test fails (not an assertion on speed)


def _object_info(page: EditorPage) -> dict[str, Any]:
    if not hasattr(page, "_test_object_info"):
        page._test_object_info = wait(page.call("objectInfo"), W)  # type: ignore[attr-defined]
    return page._test_object_info  # type: ignore[attr-defined, no-any-return]


def _sample_exposed(info: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    wf = json.loads(SAMPLE.read_text())
    fields = {f.key: f for f in list_fields(wf, info)}
    taken: set[str] = set()
    keys = ("1.width", "1.color", "3.filename_prefix", "4.value", "4.height")
    return wf, [expose(fields[k], taken=taken) for k in keys]


def test_page_is_ready_with_its_version_and_no_first_run_dialog(page: EditorPage, frontend_urls: dict[str, str]) -> None:
    version = next(v for v, u in frontend_urls.items() if u == page.server.url)
    assert page.info is not None and page.info.version == version and page.info.tested
    assert page.interceptor.seen["websocket"] >= 1      # the socket's upgrade went through the interceptor
    state = wait(page.run_js(
        "return {done: app.extensionManager.setting.get('Comfy.TutorialCompleted'),"
        " dialogs: document.querySelectorAll('.p-dialog').length}"), W)
    assert state == {"done": True, "dialogs": 0}


def test_no_nodes_2_banner_in_the_embedded_view(page: EditorPage) -> None:
    # 1.32.9 shows "Introducing Nodes 2.0 … Try it out" above the graph until dismissed (localStorage);
    # 1.58.1 has no such banner: the pre-set key is harmless there
    state = wait(page.run_js(
        "return {dismissed: localStorage.getItem('vueNodesBannerDismissed'),"
        " text: document.body.innerText.includes('Introducing Nodes 2.0')}"), W)
    assert state == {"dismissed": "true", "text": False}


def test_push_edit_pull_gives_kept_moved_broken(page: EditorPage) -> None:
    info = _object_info(page)
    wf, exposed = _sample_exposed(info)
    pushed = wait(push(page, wf, name="Bridge test node", exposed=exposed), W)
    assert pushed.path.endswith("Bridge test node.json") or pushed.warnings
    assert not page.dirty
    shown = wait(page.run_js("return app.graph.serialize()"), W)
    marks = {n["id"]: n["properties"].get(MARKER_KEY) for n in shown["nodes"]}
    assert [e["input"] for e in marks[1]["exposed"]] == ["width", "color"]

    changed: list[bool] = []
    page.dirty_changed.connect(changed.append)
    # in the web UI: node 1 copied (new id, marker kept), re-titled, moved, its width changed,
    # wired in place of the original, which is deleted; a node added; the exposed SolidMask deleted
    new_id = wait(page.run_js("""
        const g = app.graph;
        const old = g.getNodeById(1);
        const copy = old.clone();
        g.add(copy);
        copy.title = 'Canvas'; copy.pos = [60, 700];
        copy.widgets.find(w => w.name === 'width').value = 320;
        copy.connect(0, g.getNodeById(2), 0);
        g.remove(old);
        g.add(LiteGraph.createNode('ImageInvert'));
        g.remove(g.getNodeById(4));
        captureState();
        return copy.id;"""), W)
    if not page.dirty:
        wait(_signal_future(page), W, "graphChanged")
    assert page.dirty and changed[-1] is True

    pulled = wait(pull(page, exposed=exposed, pushed=pushed.workflow, object_info=info), W)
    assert not page.dirty
    by_id = {b.parameter.id: b for b in pulled.diff.bindings}
    assert {k: (b.status, b.node_id) for k, b in by_id.items()} == {
        exposed[0].id: ("moved", str(new_id)), exposed[1].id: ("moved", str(new_id)),
        exposed[2].id: ("ok", "3"), exposed[3].id: ("broken", None), exposed[4].id: ("broken", None)}
    assert "deleted" in by_id[exposed[3].id].reason
    assert pulled.prompt[str(new_id)]["inputs"]["width"] == 320
    assert len(pulled.workflow["nodes"]) == 6   # 6 - 1 deleted - 1 replaced + 1 copy + 1 added
    fields = {f.key: f.value for f in pulled.diff.fields}
    assert fields[f"{new_id}.width"] == 320


def test_exposures_survive_wrapping_their_node_into_a_subgraph(page: EditorPage) -> None:
    info = _object_info(page)
    wf, exposed = _sample_exposed(info)
    pushed = wait(push(page, wf, name="Bridge test node", exposed=exposed), W)
    host = wait(page.run_js("""
        const g = app.graph;
        const made = g.convertToSubgraph(new Set([g.getNodeById(4), g.getNodeById(5)]));
        captureState();
        return String(made.node.id);"""), W)
    pulled = wait(pull(page, exposed=exposed, pushed=pushed.workflow, object_info=info), W)
    status = {b.parameter.id: (b.status, b.node_id) for b in pulled.diff.bindings}
    assert status[exposed[3].id] == ("moved", f"{host}:4") and status[exposed[4].id] == ("moved", f"{host}:4")
    assert status[exposed[0].id] == ("ok", "1")
    assert pulled.prompt[f"{host}:4"]["inputs"]["value"] == 0.5


def test_the_first_run_dialog_is_pre_empted_for_a_fresh_user(qapp: Any, newer_frontend_server: str,
                                                             loop_thread: Any) -> None:
    import aiohttp

    from comfy_backend.client import ComfyClient

    async def reset() -> None:   # as a fresh user: the setting not done
        async with aiohttp.ClientSession() as session:
            client = ComfyClient(ServerConfig(id="s", url=newer_frontend_server), session)
            await client.request("POST", "/settings/Comfy.TutorialCompleted", json_body=False)

    loop_thread.run(reset())
    fresh = EditorPage(ServerConfig(id="fresh", url=newer_frontend_server))
    wait(fresh.load(), 120)
    state = wait(fresh.run_js(
        "return {done: app.extensionManager.setting.get('Comfy.TutorialCompleted'),"
        " dialogs: document.querySelectorAll('.p-dialog').length}"), W)
    fresh.close()
    assert state == {"done": True, "dialogs": 0}


def _signal_future(page: EditorPage) -> Any:
    from concurrent.futures import Future

    fut: Future[bool] = Future()
    fut.set_running_or_notify_cancel()
    page.dirty_changed.connect(lambda v: fut.done() or fut.set_result(v))
    return fut


def test_an_api_prompt_opens_through_load_api_json_with_its_markers(page: EditorPage) -> None:
    info = _object_info(page)
    prompt = {"10": {"class_type": "SolidMask", "inputs": {"value": 0.25, "width": 64, "height": 48}},
              "11": {"class_type": "MaskToImage", "inputs": {"mask": ["10", 0]}},
              "12": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}}}
    taken: set[str] = set()
    exposed = [expose(f, taken=taken) for f in list_fields(prompt, info) if f.key == "10.width"]
    wait(push(page, prompt, name="Bridge api node", exposed=exposed), W)
    pulled = wait(pull(page, exposed=exposed, pushed=prompt, object_info=info), W)
    assert [(b.status, b.node_id) for b in pulled.diff.bindings] == [("ok", "10")]
    assert pulled.prompt["10"]["inputs"] == {"value": 0.25, "width": 64, "height": 48}


TABS_JS = "const s = app.extensionManager.workflow; return s.openWorkflows.map(w => w.path)"


def test_every_push_replaces_the_one_tab_named_after_the_node(page: EditorPage) -> None:
    # the page starts with one "Unsaved Workflow" tab and every test pushes into the active tab:
    # the page never holds more than the tab of the node pushed last (an API prompt, which
    # loadApiJson opens in a tab of its own, included)
    prompt = {"10": {"class_type": "SolidMask", "inputs": {"value": 0.25, "width": 64, "height": 48}},
              "11": {"class_type": "MaskToImage", "inputs": {"mask": ["10", 0]}},
              "12": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}}}
    for wf, name in ((prompt, "Tab api node"), (prompt, "Tab api node"),
                     (json.loads(SAMPLE.read_text()), "Tab ui node"), (prompt, "Tab api node")):
        pushed = wait(push(page, wf, name=name), W)
        assert pushed.path == f"workflows/{name}.json" and not pushed.warnings
        assert wait(page.run_js(TABS_JS), W) == [pushed.path]
        shown = wait(page.run_js("return app.graph.serialize().nodes.length"), W)
        assert shown == len(wf.get("nodes", wf))


def test_unknown_node_types_and_malformed_workflows_change_nothing(page: EditorPage) -> None:
    wf = json.loads(SAMPLE.read_text())
    wait(push(page, wf, name="Bridge test node"), W)
    before = wait(page.run_js("return app.graph.serialize().nodes.map(n => n.id)"), W)
    bad = json.loads(SAMPLE.read_text())
    bad["nodes"][1]["type"] = "NoSuchNode_For_Bridge_Test"
    with pytest.raises(MissingNodeTypes, match="NoSuchNode_For_Bridge_Test"):
        wait(push(page, bad, name="bad"), W)
    with pytest.raises(WorkflowError):
        wait(push(page, {"nodes": [{"id": 1}], "links": "no"}, name="bad"), W)
    assert wait(page.run_js("return app.graph.serialize().nodes.map(n => n.id)"), W) == before


# ---------------------------------------------------------------- loading failures and auth


def test_offline_server_and_no_web_ui_and_never_ready_are_clear_errors(qapp: Any, loop_thread: Any) -> None:
    from aiohttp import web

    async def not_found(_r: web.Request) -> web.Response:
        return web.Response(status=404, text="404: Not Found")

    async def other(_r: web.Request) -> web.Response:
        return web.Response(text="<html><title>Some other service</title><body>hi</body></html>", content_type="text/html")

    async def stuck(_r: web.Request) -> web.Response:   # looks like ComfyUI's page, never starts the app
        return web.Response(text="<html><title>ComfyUI</title><body><div id='vue-app'></div></body></html>",
                            content_type="text/html")

    cases = []
    for handler in (not_found, other, stuck):
        url, stop = loop_thread.run(http_app({"/": handler})())
        cases.append((url, stop))
    try:
        offline = EditorPage(ServerConfig(id="off", url="http://127.0.0.1:9"))
        with pytest.raises(FrontendUnavailable, match="unreachable"):
            wait(offline.load(), W)
        p404 = EditorPage(ServerConfig(id="api-only", url=cases[0][0]))
        with pytest.raises(FrontendUnavailable, match=r"404|no ComfyUI web UI"):
            wait(p404.load(), W)
        pother = EditorPage(ServerConfig(id="other", url=cases[1][0]))
        with pytest.raises(FrontendUnavailable, match="serves no ComfyUI web UI"):
            wait(pother.load(), W)
        pstuck = EditorPage(ServerConfig(id="stuck", url=cases[2][0]), ready_timeout=3)
        with pytest.raises(PageTimeout, match="did not become ready within 3 s"):
            wait(pstuck.load(), W)
        for p in (offline, p404, pother, pstuck):
            p.close()
    finally:
        for _, stop in cases:
            loop_thread.run(stop())


def _settle(seconds: float) -> Any:
    """A future done after ``seconds`` of Qt events (lets a closed page drop its connections)."""
    from concurrent.futures import Future

    from qtpy.QtCore import QTimer

    fut: Future[None] = Future()
    fut.set_running_or_notify_cancel()
    QTimer.singleShot(int(seconds * 1000), lambda: fut.set_result(None))
    return fut


def test_the_page_works_through_a_proxy_that_requires_a_bearer_token(
        qapp: Any, loop_thread: Any, real_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.backend.test_auth_tls import start_proxy

    monkeypatch.setenv("BRIDGE_TEST_TOKEN", "tok-bridge")
    required = {"Authorization": "Bearer tok-bridge"}
    bare_url, _, stop_bare = loop_thread.run(start_proxy(real_server, required))
    url, seen, stop = loop_thread.run(start_proxy(real_server, required))
    try:
        bare = EditorPage(ServerConfig(id="noauth", url=bare_url))
        with pytest.raises(FrontendUnavailable, match="401"):
            wait(bare.load(), W)
        bare.close()
        cfg = ServerConfig(id="proxied", url=url, auth={"kind": "bearer", "token_env": "BRIDGE_TEST_TOKEN"})
        page = EditorPage(cfg)
        wait(page.load(), 120)
        out = wait(pull(page), W)
        assert out.workflow["nodes"] is not None
        assert page.interceptor.seen["websocket"] >= 1 and seen["ws"] >= 1
        assert seen["refused"] == 0 and seen["http"] > 50   # every request of the page carried the token
        page.close()
        wait(_settle(1.0), W)
    finally:
        loop_thread.run(stop_bare(), 60)
        loop_thread.run(stop(), 60)


def test_the_view_shows_the_page_and_closes_cleanly(qapp: Any, real_server: str) -> None:
    from editor_bridge import EditorView

    view = EditorView(ServerConfig(id="view", url=real_server))
    view.resize(1200, 800)
    view.show()
    info = wait(view.editor.load(), 120)
    assert info.version == "1.32.9" and view.web.page() is view.editor.page
    assert wait(view.editor.run_js("return app.canvasEl.width > 0"), W) is True
    view.close()


def test_a_frontend_outside_the_tested_range_warns_or_fails_when_strict(
        qapp: Any, real_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import editor_bridge.page as page_module
    from editor_bridge import FrontendVersionError, check_version

    # pretend the tested range ends before 1.32.9 (no older frontend runs on this backend)
    monkeypatch.setattr(page_module, "check_version", lambda url, v: check_version(url, v, ("1.0.0", "1.20.0")))
    strict = EditorPage(ServerConfig(id="strict", url=real_server), strict_version=True)
    with pytest.raises(FrontendVersionError, match=r"runs frontend 1\.32\.9, newer than the tested range"):
        wait(strict.load(), 120)
    strict.close()
