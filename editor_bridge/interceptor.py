"""Credentials on every request a server's page makes, its WebSocket included."""
from __future__ import annotations

from collections import Counter

from qtpy.QtCore import QObject, QUrl
from qtpy.QtWebEngineCore import QWebEngineUrlRequestInfo, QWebEngineUrlRequestInterceptor

#: the WebSocket scheme of each HTTP scheme (the upgrade request carries ws:/wss: URLs)
_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}


def origin(url: QUrl) -> tuple[str, str, int]:
    """(scheme, host, port) with ws/wss folded into http/https and default ports filled in."""
    scheme = _SCHEMES.get(url.scheme().lower(), url.scheme().lower())
    return scheme, url.host().lower(), url.port(443 if scheme == "https" else 80)


class AuthInterceptor(QWebEngineUrlRequestInterceptor):
    """Adds ``headers`` to every request for the server's own origin (scheme, host, port).

    Requests elsewhere get nothing, as in the core's client: a page cannot send the
    credentials on. ``seen`` counts intercepted requests by kind ("http", "websocket",
    "foreign") so that tests can check the WebSocket upgrade went through here.
    """

    def __init__(self, server_url: str, headers: dict[str, str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._origin = origin(QUrl(server_url))
        # encoded once: the interceptor runs for every request of the page
        self._headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.seen: Counter[str] = Counter()

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
        if origin(info.requestUrl()) != self._origin:
            self.seen["foreign"] += 1
            return
        kind = "websocket" if info.resourceType() == QWebEngineUrlRequestInfo.ResourceType.ResourceTypeWebSocket \
            else "http"
        self.seen[kind] += 1
        for name, value in self._headers:
            info.setHttpHeader(name, value)


__all__ = ["AuthInterceptor", "origin"]
