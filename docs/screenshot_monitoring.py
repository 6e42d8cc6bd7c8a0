"""Make docs/screenshot-monitoring.png: the servers dock and charts after a batch on 10 fake servers.

``QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshot_monitoring.py``
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qtpy.QtWidgets import QApplication  # noqa: E402

from comfy_backend import Orchestrator, RunRequest  # noqa: E402
from comfy_backend.config import parse_servers_config  # noqa: E402
from tests.ryven.test_monitoring import SPEEDS, blur, foreign_prompt, start_fleet  # noqa: E402


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    from ryven_comfy_nodes.context import AppContext, set_context
    from ryven_comfy_nodes.gui_docks import servers_with_charts
    from ryven_comfy_nodes.qt_dispatch import QtDispatcher

    fleet, urls = start_fleet(SPEEDS)
    names = ["Studio GPU 0", "Studio GPU 1", "Office 4090", None, None, "Laptop", None, None, None, "Rack A100"]
    cfg = parse_servers_config({"servers": [
        {"id": f"gpu{i}", "url": u, "name": names[i], "tags": ["sdxl"] if i % 2 else ["sdxl", "flux"]}
        for i, u in enumerate(urls)], "defaults": {"health_interval": 0.5}})
    orch = Orchestrator(cfg).start(wait_checked=True)
    dispatcher = QtDispatcher()
    ctx = AppContext(orch, dispatcher.post)
    set_context(ctx)
    widget = servers_with_charts(ctx)
    widget.resize(1500, 900)
    widget.show()

    def pump(seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    handles = [orch.submit(RunRequest(blur(random.choice([15, 25, 31]), random.choice([1024, 1536])),
                                      label=f"render {i + 1}")) for i in range(400)]
    started = time.time()
    while time.time() - started < 150 and sum(h.done() for h in handles) < 300:
        pump(0.5)
    for u in urls[:3]:
        foreign_prompt(u)  # someone else's prompts in three servers' queues
    pump(1.5)
    charts = widget.widget(1)
    charts.fetch()
    pump(1.0)
    charts.timer.stop()  # no new redraw: the one in progress (one curve per turn of the event loop) ends
    while charts.drawing:
        pump(0.1)
    more = handles
    out = REPO / "docs" / "screenshot-monitoring.png"
    widget.grab().save(str(out))
    print(out)
    for h in more:
        h.cancel()
    dispatcher.stop()
    ctx.close()
    fleet.stdin.close()
    fleet.wait(10)


if __name__ == "__main__":
    main()
