"""The monitoring docks offscreen against 10 fake servers (different speeds, foreign queue items):
rows and colours, charts fed, offline greying, add/edit/remove saved and applied, job attempts
after a server is killed, the log dock's filter. No timed assertions (issue 11)."""
from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_backend import Health, Orchestrator, RunRequest, Target, load_servers_config

REPO = Path(__file__).resolve().parents[2]
SPEEDS = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]


def start_fleet(speeds: list[float]) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.fake_fleet", "--speeds", ",".join(map(str, speeds))],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, json.loads(line)["urls"]


def blur(radius: int = 31, size: int = 512) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                      "color": random.randint(0, 0xFFFFFF)}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": radius, "sigma": 8.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "mon/t"}},
    }


def foreign_prompt(url: str) -> None:
    """A prompt queued by someone else (another client id): counted as "others'"."""
    body = json.dumps({"prompt": blur(31, 1024), "client_id": "someone-else"}).encode()
    req = urllib.request.Request(url + "/prompt", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


@pytest.fixture
def fleet(tmp_path: Path, qapp) -> Iterator[dict]:
    from ryven_comfy_nodes.context import AppContext, current_context, set_context
    from ryven_comfy_nodes.qt_dispatch import QtDispatcher

    main, urls = start_fleet(SPEEDS[:9])
    victim, [victim_url] = start_fleet([1])
    servers = [{"id": f"s{i}", "url": u, "tags": ["v"] if i == 8 else []} for i, u in enumerate(urls)]
    servers.append({"id": "victim", "name": "Victim box", "url": victim_url, "tags": ["v"]})
    cfg_path = tmp_path / "servers.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump({"servers": servers, "defaults": {"health_interval": 0.3, "offline_after": 2}}))
    orch = Orchestrator(load_servers_config(cfg_path)).start(wait_checked=True)
    dispatcher = QtDispatcher()
    ctx = AppContext(orch, dispatcher.post)
    before = current_context(create=False)
    set_context(ctx)
    try:
        yield {"ctx": ctx, "orch": orch, "path": cfg_path, "victim": victim, "urls": urls, "victim_url": victim_url,
               "fleet": main}
    finally:
        set_context(before)
        dispatcher.stop()
        ctx.close()
        for p in (main, victim):
            if p.poll() is None:
                p.stdin.close()
                p.wait(10)


@pytest.fixture
def docks(fleet, qtbot):
    from qtpy.QtWidgets import QMainWindow

    from ryven_comfy_nodes.gui_docks import create_docks

    win = QMainWindow()
    made = create_docks(win, fleet["ctx"])
    from qtpy.QtCore import Qt

    for d in made:
        win.addDockWidget(Qt.BottomDockWidgetArea, d)
    win.resize(1600, 900)
    win.show()
    qtbot.addWidget(win)
    panels = {d.objectName().split("_")[2]: d.widget() for d in made}
    yield panels
    for p in panels.values():
        for t in ("timer",):
            if hasattr(p, t):
                getattr(p, t).stop()
    panels["log"].close_handler()


def test_rows_colours_charts_jobs_attempts_and_offline(fleet, docks, qtbot):
    from ryven_comfy_nodes.gui_node import health_colour
    from ryven_comfy_nodes.gui_servers import BAR_ROLE, C_CPU, C_JOB, C_LIGHT, C_NAME, C_QUEUE, C_VRAM, GREY

    orch, table = fleet["orch"], docks["servers"].table
    foreign_prompt(fleet["urls"][0])
    qtbot.waitUntil(lambda: table.rowCount() == 10, timeout=20_000)
    names = [table.item(r, C_NAME).text() for r in range(10)]
    assert "Victim box (victim)" in names and "s0" in names
    # a drawn health light, green for online servers; CPU servers say so instead of VRAM figures
    assert table.item(0, C_LIGHT).toolTip() == "online" and not table.item(0, C_LIGHT).icon().isNull()
    assert health_colour(orch.servers()[0].health) != health_colour(Health.OFFLINE)
    assert table.item(0, C_VRAM).text() == "CPU server"
    assert table.item(0, C_CPU).text() == "-"  # no agent on the fakes
    qtbot.waitUntil(lambda: table.item(0, C_QUEUE).text().endswith("/ 1"), timeout=20_000)  # others' queue item

    handles = [orch.submit(RunRequest(blur(31, 700), label=f"blur {i}")) for i in range(12)]
    on_v = [orch.submit(RunRequest(blur(31, 1024), label=f"tagged {i}", target=Target(tags=("v",))))
            for i in range(4)]
    qtbot.waitUntil(lambda: any(j.server == "victim" and not j.state.final for j in orch.jobs()), timeout=30_000)
    bars = [table.item(r, 7).data(BAR_ROLE) for r in range(10)]
    qtbot.waitUntil(lambda: any(isinstance(table.item(r, 7).data(BAR_ROLE), float) for r in range(10)) or
                    all(h.done() for h in handles), timeout=30_000)
    del bars
    fleet["victim"].kill()  # the victim dies with a job on it: the job fails over
    for h in handles + on_v:
        qtbot.waitUntil(h.done, timeout=60_000)
    assert all(h.result().state.value == "succeeded" for h in handles + on_v)
    moved = [h.result() for h in on_v if h.result().attempts[0].server == "victim"]
    assert moved and all(j.attempts[-1].server == "s8" for j in moved)
    # the victim's row greys out and says when it was last seen, without stale figures
    r = next(r for r in range(10) if table.item(r, C_NAME).text() == "Victim box (victim)")
    qtbot.waitUntil(lambda: "last seen" in table.item(r, C_JOB).text(), timeout=30_000)
    assert table.item(r, C_VRAM).text() == "-"
    assert table.item(r, C_NAME).foreground().color().name() == GREY.name()
    # the jobs dock lists every job with the attempt that was moved
    jobs = docks["jobs"]
    jobs.refresh(force=True)
    assert jobs.table.rowCount() == 16
    texts = [jobs.table.item(i, 3).text() for i in range(16)]
    assert any(t.startswith("victim: retried") and "s8: succeeded" in t for t in texts)
    jobs.state_box.setCurrentText("succeeded")
    jobs.server_box.setCurrentText("victim")
    assert 0 < jobs.table.rowCount() <= 4
    # the charts got samples of every server and drew a line per server plus the pool
    charts = docks["charts"]
    qtbot.waitUntil(lambda: len(charts.store.data) == 10, timeout=20_000)
    charts.pause.setChecked(True)  # no new samples: the redraw below is the last pass
    charts.redraw()
    qtbot.waitUntil(lambda: not charts.drawing, timeout=30_000)  # one curve per turn of the event loop
    xs, ys = charts.curves[("jobs / min", "jobs_per_minute", "pool")].getData()
    assert xs is not None and len(xs) > 0
    charts.set_highlight("s3")
    assert charts.highlight == "s3"


def test_add_edit_disable_remove_saved_and_applied(fleet, docks, qtbot):
    from comfy_backend import ServerConfig, ServersFile

    panel, orch, path = docks["servers"], fleet["orch"], fleet["path"]
    mgr = panel.manager
    mgr.ask = False  # no modal dialogs in a test
    mgr.add(ServerConfig(id="extra", url=fleet["urls"][3], tags=["new"],
                         auth={"kind": "bearer", "token_env": "HOME"}))
    qtbot.waitUntil(lambda: orch.server("extra") is not None and orch.server("extra").health.value == "online",
                    timeout=20_000)
    saved = ServersFile(path).config()
    assert saved.servers[-1].id == "extra" and saved.servers[-1].auth.token_env == "HOME"
    assert "HOME" in path.read_text() and str(Path.home()) not in path.read_text()  # a reference, never the secret
    mgr.edit(ServerConfig(id="extra", url=fleet["urls"][3], name="Renamed", tags=["new"]))
    qtbot.waitUntil(lambda: orch.server("extra").name == "Renamed", timeout=10_000)
    mgr.set_enabled("extra", False)
    qtbot.waitUntil(lambda: not orch.server("extra").enabled, timeout=10_000)
    assert ServersFile(path).config().servers[-1].enabled is False
    qtbot.waitUntil(lambda: any(panel.table.item(r, 1).text() == "Renamed (extra)"
                                for r in range(panel.table.rowCount())), timeout=10_000)
    mgr.remove("extra")
    qtbot.waitUntil(lambda: orch.server("extra") is None, timeout=10_000)
    qtbot.waitUntil(lambda: "extra" not in panel.table.snaps, timeout=10_000)
    assert "extra" not in ServersFile(path).ids()
    # changed on disk meanwhile: not overwritten, a clear message, the change still applied
    path.write_text(path.read_text() + "# edited elsewhere\n")
    mgr.add(ServerConfig(id="late", url=fleet["urls"][4]))
    assert "changed on disk" in mgr.last_message
    assert "edited elsewhere" in path.read_text() and "late" not in ServersFile(path).ids()
    qtbot.waitUntil(lambda: orch.server("late") is not None, timeout=10_000)
    assert "late" in mgr.file.ids()  # kept for a later save: nothing lost


def test_test_connection_reports_reachability_and_version(fleet, qtbot):
    from comfy_backend import ServerConfig

    ok = fleet["orch"].test_server(ServerConfig(id="t", url=fleet["urls"][0])).result(10)
    assert ok["ok"] and ok["version"] == "0.3.75" and ok["agent"] is False
    bad = fleet["orch"].test_server(ServerConfig(id="t", url="http://127.0.0.1:9")).result(10)
    assert not bad["ok"] and not bad["reachable"] and "unreachable" in bad["error"]


def test_log_dock_filters_by_level_and_search(fleet, docks, qtbot):
    panel = docks["log"]
    logging.getLogger("comfy_backend.test").warning("a warning about zebras")
    logging.getLogger("comfy_backend.test").info("an info about llamas")
    qtbot.waitUntil(lambda: "llamas" in panel.visible_text(), timeout=5_000)
    panel.level_box.setCurrentText("warning")
    assert "zebras" in panel.visible_text() and "llamas" not in panel.visible_text()
    panel.level_box.setCurrentText("debug")
    panel.search.setText("LLAMA")
    assert "llamas" in panel.visible_text() and "zebras" not in panel.visible_text()


def test_metrics_export_json_and_csv(fleet, docks, qtbot, tmp_path):
    panel = docks["servers"]
    panel.export_metrics(tmp_path / "m.json")
    panel.export_metrics(tmp_path / "m.csv")
    qtbot.waitUntil(lambda: (tmp_path / "m.json").exists() and (tmp_path / "m.csv").exists(), timeout=10_000)
    rep = json.loads((tmp_path / "m.json").read_text())
    assert set(rep["servers"]) >= {"s0", "victim"}
    assert (tmp_path / "m.csv").read_text().startswith("server,t,queue_ours")
