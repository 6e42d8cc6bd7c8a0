"""A busy local instance is not a dead one (issue 8, item 10): liveness waits patiently."""
from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from comfy_backend.local.instances import answers_patiently


class _Slow(http.server.BaseHTTPRequestHandler):
    delay = 1.5

    def do_GET(self) -> None:
        time.sleep(self.delay)  # a CPU instance in the middle of a batch answers late
        body = b'{"system": {}, "devices": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_an_instance_answering_late_counts_as_alive(slow_server: str) -> None:
    assert answers_patiently(slow_server, patience=10.0)


def test_nothing_listening_is_not_alive() -> None:
    assert not answers_patiently("http://127.0.0.1:9", patience=1.0)
