"""One server's real ComfyUI web UI in a ``QWebEnginePage``, and calls into it that return Promises.

:class:`EditorPage` owns the page, its own off-the-record profile (so the server's credentials,
added by :class:`~.interceptor.AuthInterceptor`, stay with this page), the QWebChannel that
brings results back, and the readiness check. Every call returns a
``concurrent.futures.Future`` completed on the GUI thread; :func:`wait` blocks on one while
Qt's events run (headless use and tests). Qt objects are touched only on the GUI thread.
"""
from __future__ import annotations

import itertools
import json
import logging
import time
import weakref
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from qtpy.QtCore import (
    QCoreApplication,
    QEventLoop,
    QFile,
    QIODevice,
    QObject,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from qtpy.QtWebChannel import QWebChannel
from qtpy.QtWebEngineCore import QWebEngineLoadingInfo, QWebEnginePage, QWebEngineProfile, QWebEngineScript

from comfy_backend import ServerConfig, auth_headers

from .errors import BridgeCallError, FrontendUnavailable, FrontendVersionError, PageTimeout
from .interceptor import AuthInterceptor
from .lifecycle import check_gui_thread, closing, held, hold
from .version import FrontendInfo, check_version

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_READY_TIMEOUT = 90.0   # s: 6-9 s measured; software rendering on a busy 2-core machine is slower
DEFAULT_CALL_TIMEOUT = 60.0
_POLL_MS = 100

# Pre-empts the first-run templates dialog: the frontend reads its settings from the server when
# it starts, so the setting is stored first, by the page itself (same origin, credentials from the
# interceptor), synchronously, before any module script runs. Relative URL: works under a prefix.
# Also pre-empts the "Introducing Nodes 2.0" banner of frontend 1.32.x (TryVueNodeBanner: hidden
# once the localStorage key vueNodesBannerDismissed is true; 1.58.x no longer shows it), which
# would take a line of the embedded view.
_TUTORIAL_JS = """
(function () {
  if (window.top !== window) return;
  try {
    if (localStorage.getItem('vueNodesBannerDismissed') !== 'true') localStorage.setItem('vueNodesBannerDismissed', 'true');
  } catch (e) { console.warn('ryven-comfy: could not dismiss the Nodes 2.0 banner: ' + e); }
  try {
    var g = new XMLHttpRequest();
    g.open('GET', 'api/settings/Comfy.TutorialCompleted', false);
    g.send();
    if (g.status === 200 && g.responseText.trim() === 'true') return;
    var p = new XMLHttpRequest();
    p.open('POST', 'api/settings/Comfy.TutorialCompleted', false);
    p.setRequestHeader('Content-Type', 'application/json');
    p.send('true');
  } catch (e) { console.warn('ryven-comfy: could not pre-set Comfy.TutorialCompleted: ' + e); }
})();
"""


def _qwebchannel_js() -> str:
    f = QFile(":/qtwebchannel/qwebchannel.js")
    if not f.open(QIODevice.OpenModeFlag.ReadOnly):
        raise FrontendUnavailable("QtWebChannel's qwebchannel.js is missing from this Qt installation")
    try:
        return bytes(f.readAll().data()).decode("utf-8")
    finally:
        f.close()


def _run_until_done(future: Future[Any], timeout: float) -> bool:
    """Run Qt's events until ``future`` is done or ``timeout`` s pass; True when done.

    Separate from :func:`wait` so that the loop and the timer are gone before a failed future's
    exception is raised: a traceback keeps its frames' locals alive in a reference cycle, and
    Python's cyclic GC frees those on whatever thread happens to run it.
    """
    loop = QEventLoop()
    loop_ref = weakref.ref(loop)   # the future keeps its callbacks: it must not keep the loop

    def wake(_f: Future[Any]) -> None:
        if (live := loop_ref()) is not None:
            QTimer.singleShot(0, live.quit)

    future.add_done_callback(wake)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(timeout * 1000))
    while not future.done() and timer.isActive():
        loop.exec()
    timer.stop()
    return future.done()


def wait(future: Future[T], timeout: float, what: str = "the web UI") -> T:
    """The result of ``future``, running Qt's events until it is done (PageTimeout after ``timeout`` s)."""
    if not future.done() and not _run_until_done(future, timeout):
        raise PageTimeout(f"{what} did not answer within {timeout:g} s")
    return future.result()


class _Page(QWebEnginePage):
    """The page, with its console sent to our log instead of stderr (the last lines kept for errors)."""

    def __init__(self, profile: QWebEngineProfile, parent: QObject) -> None:
        super().__init__(profile, parent)
        self.console: list[str] = []

    def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel, message: str,
                                 line: int, source: str) -> None:
        if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
            self.console = [*self.console[-19:], message]
        log.debug("page console: %s (%s:%d)", message, source, line)


class _Channel(QObject):
    """The object the page sees as ``ryvenComfy``: results and change notices come in here."""

    def __init__(self, owner: EditorPage) -> None:
        super().__init__(owner)
        # weak: a strong reference back would make a wrapper cycle the GC cannot see through
        # (PySide keeps child wrappers alive), so a dropped EditorPage would never be deleted
        self._owner = weakref.ref(owner)

    @Slot(int, bool, str)
    def resolve(self, call_id: int, ok: bool, payload: str) -> None:
        owner = self._owner()
        if owner is not None:
            owner._resolve(call_id, ok, payload)

    @Slot(int)
    def changed(self, count: int) -> None:
        owner = self._owner()
        if owner is not None:
            owner._changed_in_page(count)


class EditorPage(QObject):
    """A server's web UI: load it, wait until ``window.app`` is ready, call into it.

    Signals: ``ready(FrontendInfo)`` once the page is usable; ``failed(Exception)`` when loading
    fails; ``graph_changed()`` on every edit made in the web UI (``graphChanged``), and
    ``dirty_changed(bool)`` when the "edited in the web UI, not synced" state flips.
    """

    ready = Signal(object)
    failed = Signal(object)
    graph_changed = Signal()
    dirty_changed = Signal(bool)

    def __init__(self, server: ServerConfig, parent: QObject | None = None, *,
                 ready_timeout: float = DEFAULT_READY_TIMEOUT, strict_version: bool = False) -> None:
        check_gui_thread("EditorPage")
        headers = auth_headers(server)   # ConfigError now, not in the page, when a secret is missing
        # Never owned by a Python wrapper alone: when the last reference to a wrapper goes, maybe in
        # a garbage cycle that Python's GC frees on a backend thread, the C++ object (its page and
        # profile with it) would be deleted on that thread, and Chromium CHECKs (SIGTRAP) on that.
        # Without a parent the application holds it until close() deletes it on the GUI thread.
        self._owned_by_app = parent is None
        super().__init__(parent if parent is not None else QCoreApplication.instance())
        self.server = server
        self.ready_timeout = ready_timeout
        self.strict_version = strict_version
        # Qt deletes children in the order they became children; the page must go before its
        # profile, and the interceptor after the profile that calls it: page, profile, interceptor.
        profile = QWebEngineProfile()   # off the record: nothing of this server kept on disk
        interceptor = AuthInterceptor(server.url, headers)
        profile.setUrlRequestInterceptor(interceptor)
        self.page = _Page(profile, self)
        profile.setParent(self)
        interceptor.setParent(self)
        self.profile, self.interceptor = profile, interceptor
        self._closed = False
        if self._owned_by_app:
            hold(self)
        self._channel = QWebChannel(self.page)
        self._channel_object = _Channel(self)
        self._channel.registerObject("ryvenComfy", self._channel_object)
        self.page.setWebChannel(self._channel, QWebEngineScript.ScriptWorldId.MainWorld)
        script = QWebEngineScript()
        script.setName("ryven-comfy-bridge")
        script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
        script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
        script.setRunsOnSubFrames(False)
        bridge_js = Path(__file__).with_name("bridge.js").read_text(encoding="utf-8")
        script.setSourceCode(_TUTORIAL_JS + "\n" + _qwebchannel_js() + "\n" + bridge_js)
        self.page.scripts().insert(script)
        self.page.loadFinished.connect(self._load_finished)
        self.page.loadingChanged.connect(self._loading_changed)
        self._ids = itertools.count(1)
        self._calls: dict[int, Future[Any]] = {}
        self._load: Future[FrontendInfo] | None = None
        self._load_error: str | None = None
        self._finished_ok = False   # loadFinished(True) seen: only then can a page be "not ComfyUI"
        self._deadline = 0.0
        self._poll = QTimer(self)
        self._poll.setInterval(_POLL_MS)
        self._poll.timeout.connect(self._check_ready)
        self.info: FrontendInfo | None = None
        self.loaded_at: float | None = None   #: monotonic time when the page became ready
        self._dirty = False

    # ------------------------------------------------------------ loading
    def load(self) -> Future[FrontendInfo]:
        """Load the web UI (once); the future holds its FrontendInfo or the reason it is unusable."""
        if self._load is not None:
            return self._load
        self._load = Future()
        self._load.set_running_or_notify_cancel()
        self._deadline = time.monotonic() + self.ready_timeout
        self._poll.start()
        self.page.load(QUrl(self.server.url + "/"))
        return self._load

    def _loading_changed(self, info: QWebEngineLoadingInfo) -> None:
        if info.status() != QWebEngineLoadingInfo.LoadStatus.LoadFailedStatus or self._load is None:
            return
        if info.errorDomain() == QWebEngineLoadingInfo.ErrorDomain.HttpStatusCodeDomain:
            self._load_error = f"answered HTTP {info.errorCode()} for its web UI page"
            if info.errorCode() in (401, 403):
                self._load_error += " (check the server's auth settings)"
        else:
            self._load_error = f"is unreachable ({info.errorString() or 'load failed'})"
        self._fail(FrontendUnavailable(f"server '{self.server.id}' ({self.server.url}) {self._load_error}"))

    def _load_finished(self, ok: bool) -> None:
        self._finished_ok = ok
        if ok or self._load is None or self._load.done():
            return
        # loadingChanged (which says why) may come just after loadFinished: give it a moment
        QTimer.singleShot(500, self, lambda: self._fail(FrontendUnavailable(
            f"server '{self.server.id}' ({self.server.url}) {self._load_error or 'is unreachable'}")))

    def _check_ready(self) -> None:
        if self._load is None or self._load.done():
            self._poll.stop()
            return
        if time.monotonic() > self._deadline:
            self._fail(PageTimeout(f"the web UI of server '{self.server.id}' ({self.server.url}) did not become "
                                   f"ready within {self.ready_timeout:g} s (window.app never appeared)"
                                   + (f"; last page error: {self.page.console[-1][:200]}" if self.page.console else "")))
            return
        # PySide6 hands JS objects over as empty strings: the status comes as JSON text
        self.page.runJavaScript("window.__ryvenComfy ? JSON.stringify(window.__ryvenComfy.status()) : ''",
                                QWebEngineScript.ScriptWorldId.MainWorld, self._on_status)

    def _on_status(self, text: Any) -> None:
        if self._load is None or self._load.done() or not isinstance(text, str) or not text:
            return
        status = json.loads(text)
        if not status.get("ready"):
            if self.page.isLoading() or status.get("comfy") or not self._finished_ok:
                return
            # loaded, yet nothing of ComfyUI's page: another service, or a server without its web UI
            self._fail(FrontendUnavailable(
                f"server '{self.server.id}' ({self.server.url}) serves no ComfyUI web UI "
                f"(page title {status.get('title')!r})" + (f"; it {self._load_error}" if self._load_error else "")))
            return
        self._poll.stop()
        info = check_version(self.server.url, status.get("version"))
        if info.warning and self.strict_version:
            self._fail(FrontendVersionError(info.warning))
            return
        self.info = info
        self.loaded_at = time.monotonic()
        self._load.set_result(info)
        self.ready.emit(info)

    def _fail(self, exc: Exception) -> None:
        self._poll.stop()
        if self._load is None or self._load.done():
            return   # failed or ready already: report once
        log.warning("%s", exc)
        self._load.set_exception(exc)
        self.failed.emit(exc)

    def is_ready(self) -> bool:
        return not self._closed and self._load is not None and self._load.done() and self._load.exception() is None

    # ------------------------------------------------------------ calls
    def call(self, name: str, *args: Any, timeout: float = DEFAULT_CALL_TIMEOUT) -> Future[Any]:
        """Run bridge function ``name`` (bridge.js) in the page; the future holds its awaited result."""
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()
        if not self.is_ready():
            fut.set_exception(FrontendUnavailable(f"the web UI of server '{self.server.id}' is not ready"))
            return fut
        call_id = next(self._ids)
        self._calls[call_id] = fut
        source = f"window.__ryvenComfy.call({call_id}, {json.dumps(name)}, {json.dumps(list(args), allow_nan=False)})"
        self.page.runJavaScript(source, QWebEngineScript.ScriptWorldId.MainWorld)

        def expire() -> None:
            if self._calls.pop(call_id, None) is not None and not fut.done():
                fut.set_exception(PageTimeout(f"the web UI of server '{self.server.id}' did not finish "
                                              f"{name} within {timeout:g} s"))
        QTimer.singleShot(int(timeout * 1000), self, expire)
        return fut

    def run_js(self, body: str, timeout: float = DEFAULT_CALL_TIMEOUT) -> Future[Any]:
        """Evaluate an async function body in the page (``app`` and ``captureState`` in scope); for tools and tests."""
        return self.call("run", body, timeout=timeout)

    def _resolve(self, call_id: int, ok: bool, payload: str) -> None:
        fut = self._calls.pop(call_id, None)
        if fut is None or fut.done():
            return  # expired already
        if not ok:
            fut.set_exception(BridgeCallError(f"the web UI of server '{self.server.id}' failed: "
                                              f"{payload.splitlines()[0] if payload else 'unknown error'}"))
            return
        try:
            fut.set_result(json.loads(payload))
        except ValueError as exc:
            fut.set_exception(BridgeCallError(f"the web UI sent an unreadable answer: {exc}"))

    # ------------------------------------------------------------ dirty state
    @property
    def dirty(self) -> bool:
        """Edited in the web UI since the last push or pull."""
        return self._dirty

    def mark_synced(self) -> None:
        """Called after a push or pull: what the web UI shows is what the node holds."""
        self._set_dirty(False)

    def _changed_in_page(self, _count: int) -> None:
        self.graph_changed.emit()
        self._set_dirty(True)

    def _set_dirty(self, value: bool) -> None:
        if value != self._dirty:
            self._dirty = value
            self.dirty_changed.emit(value)

    @property
    def closed(self) -> bool:
        """``close()`` was called: the page and its profile are gone or going."""
        return self._closed

    def close(self) -> None:
        """Stop polling, fail pending calls, and release the page, then its profile (its view must be gone first).

        Both are deleted by the event loop on the GUI thread, the page first and the profile once
        the page is destroyed (Qt requires that order); an EditorPage made without a parent is
        deleted after them (only its Python attributes stay usable). Calling it again does nothing.
        """
        if self._closed:
            return
        check_gui_thread("EditorPage.close()")
        self._closed = True
        held.discard(self)
        self._poll.stop()
        for fut in self._calls.values():
            if not fut.done():
                fut.set_exception(FrontendUnavailable("the web UI was closed"))
        self._calls.clear()
        if self._load is not None and not self._load.done():
            self._load.set_exception(FrontendUnavailable("the web UI was closed"))
        # leave the server (its WebSocket closes) before the page goes
        self.page.triggerAction(QWebEnginePage.WebAction.Stop)
        self.page.setUrl(QUrl("about:blank"))
        page, profile = self.page, self.profile
        key = id(self)
        closing.add(key)
        # each step once the one before is really done: page, profile, then this object when we own it
        page.destroyed.connect(profile.deleteLater)
        if self._owned_by_app:
            profile.destroyed.connect(self.deleteLater)
        (self if self._owned_by_app else profile).destroyed.connect(lambda: closing.discard(key))
        profile.setUrlRequestInterceptor(None)  # type: ignore[arg-type]  # None clears it (Qt accepts nullptr)
        page.deleteLater()


__all__ = ["DEFAULT_CALL_TIMEOUT", "DEFAULT_READY_TIMEOUT", "EditorPage", "wait"]
