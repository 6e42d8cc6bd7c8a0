"""The monitoring docks as a user sees them on the editor's dark theme, without servers: every column
header readable at 1600 and 1280 px, offline rows drawn grey (the theme's item colour used to win over
the row's), notifications readable and coloured, empty charts / log / notifications saying why, the
server dialog wide enough and centred, the charts tab growing the bottom area while it is raised."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from comfy_backend import Health, ServerSnapshot

#: what Ryven's dark theme says about item views (resources/stylesheets/style_template.css)
RYVEN_LIKE = ("QTableView::item, QListView::item {color: #9F9F9F;}"
              "QHeaderView::section {text-transform: uppercase; padding: 0 20px; height: 35px;}"
              "QWidget {background-color: #1E242A;}")


def snap(sid: str, health: Health, **kw) -> ServerSnapshot:
    base = dict(id=sid, name=sid, url=f"http://127.0.0.1:1{len(sid)}188", tags=("cpu", "local"), enabled=True,
                health=health, latency_ms=3.0, last_heartbeat=time.time() - 130, last_error=None, in_flight=0,
                max_concurrent=2, queue_running=0, queue_pending=0, foreign_queued=0, vram_total=None,
                vram_free=None, ram_total=25 * 2**30, ram_free=20 * 2**30, device="cpu", comfyui_version="0.3.75",
                completed=0, failed=0, jobs_per_minute=0.0, mean_run_seconds=None, is_cpu=True)
    base.update(kw)
    return ServerSnapshot(**base)


def colours(img, x0: int, x1: int, y: int) -> Counter:
    return Counter(img.pixelColor(x, y).name() for x in range(x0, x1))


def brightest(img, x0: int, x1: int, y0: int, y1: int) -> int:
    """The lightness of the brightest pixel in the box (text is anti-aliased: its core is the colour)."""
    return max(img.pixelColor(x, y).lightness() for x in range(x0, x1) for y in range(y0, y1))


def themed(widget, width: int, height: int):
    widget.setStyleSheet(RYVEN_LIKE + widget.styleSheet())
    widget.resize(width, height)
    widget.show()
    return widget


@pytest.mark.parametrize("width", [1600, 1280])
def test_every_servers_column_header_is_readable(qapp, qtbot, width):
    from qtpy.QtWidgets import QWidget

    from ryven_comfy_nodes.gui_docks import ServersPanel

    host = QWidget()
    host.setStyleSheet(RYVEN_LIKE)
    panel = ServersPanel(host, None)
    panel.resize(width - 4, 160)  # the bottom dock's width in a window that wide
    host.resize(width - 4, 160)
    host.show()
    qtbot.addWidget(host)
    table = panel.table
    header = table.horizontalHeader()
    fm = header.fontMetrics()
    for c in range(table.columnCount()):
        text = table.horizontalHeaderItem(c).text()
        assert header.sectionSize(c) >= fm.horizontalAdvance(text.upper()) + 8, (width, text)
        assert table.horizontalHeaderItem(c).toolTip()  # the full meaning on hover
    assert header.height() <= 30  # three rows fit the compact dock under the header
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    assert table.horizontalScrollBar().maximum() == 0  # every column in view, none off to the right
    assert header.sectionSize(table.columnCount() - 1) >= 80  # the last error still has room


def test_offline_rows_are_drawn_grey_and_say_when_last_seen(qapp, qtbot):
    from qtpy.QtGui import QColor

    from ryven_comfy_nodes.gui_servers import C_JOB, C_NAME, C_QUEUE, GREY, ServersTable

    table = themed(ServersTable(), 1276, 200)
    qtbot.addWidget(table)
    table.on_server(snap("up1", Health.ONLINE))
    table.on_server(snap("down", Health.OFFLINE, last_error="unreachable"))
    table.refresh()
    assert table.item(1, C_JOB).text() == "last seen 2 min ago"  # in a column wide enough to read it
    assert table.item(1, C_QUEUE).text() == "-"
    table.clearSelection()
    img = table.viewport().grab().toImage()
    x0 = table.columnViewportPosition(C_NAME)
    up = brightest(img, x0, x0 + 60, table.rowViewportPosition(0) + 4, table.rowViewportPosition(0) + 18)
    down = brightest(img, x0, x0 + 60, table.rowViewportPosition(1) + 4, table.rowViewportPosition(1) + 18)
    theme = QColor("#9f9f9f").lightness()
    assert abs(up - theme) <= 12  # an online row in the theme's colour
    assert abs(down - GREY.lightness()) <= 12 and down < up - 25  # the offline row's own grey, clearly dimmer


def test_notifications_are_readable_and_coloured_and_say_what_comes_when_empty(qapp, qtbot):
    from qtpy.QtWidgets import QMainWindow

    from ryven_comfy_nodes.gui_notify import _COLOURS, Notifications

    win = QMainWindow()
    panel = Notifications(win)
    win.setCentralWidget(panel)
    themed(win, 900, 200)
    qtbot.addWidget(win)
    empty = panel.viewport().grab().toImage()
    assert colours(empty, 0, 900, 100).most_common(1)[0][0] != "#ffffff"  # a dark list, not a white one
    assert sum(n for c, n in colours(empty, 0, 900, 100).items() if c != "#1e242a") > 0  # the empty-list text
    panel.notify("error", "blur failed on local2: out of memory")
    panel.notify("ok", "server local3 is back online")
    qtbot.wait(20)
    img = panel.viewport().grab().toImage()
    seen = set()
    for y in range(0, 60):
        seen |= set(colours(img, 0, 500, y))
    assert _COLOURS["error"] in seen and _COLOURS["ok"] in seen


def test_empty_charts_say_why_and_hide_it_once_drawn(qapp, qtbot):
    from ryven_comfy_nodes.gui_charts import CHARTS, ChartsPanel

    panel = ChartsPanel()
    qtbot.addWidget(panel)
    panel.resize(1276, 260)
    panel.show()
    qtbot.waitUntil(lambda: panel.columns == 6)  # a short, wide dock: one row of six
    assert all(panel.empty[t].isVisible() for t in CHARTS)
    assert "agent" in panel.empty["use %: CPU — GPU ┄"].toPlainText()
    now = time.time()
    panel._got({"s0": {"jobs_per_minute": [(now - 5, 1.0), (now, 2.0)]}})
    qtbot.waitUntil(lambda: not panel.drawing and panel.draws > 0, timeout=10_000)
    assert not panel.empty["jobs / min"].isVisible()
    assert "s0" in panel.legend.text() and "pool" in panel.legend.text()  # which colour is which server
    assert panel.empty["GiB: VRAM — RAM ┄"].isVisible()
    panel.resize(1200, 700)
    qtbot.waitUntil(lambda: panel.columns == 3)  # the README's picture: two rows of three
    panel.resize(600, 900)
    qtbot.waitUntil(lambda: panel.columns == 2)
    panel.pause.setChecked(True)
    assert panel.pause.isChecked() and "resume" in panel.pause.text().lower()


@pytest.mark.parametrize("ids", [[f"s{i}" for i in range(10)], [f"gpu-server-{i:02d}.lab" for i in range(10)]])
def test_the_legend_shows_every_servers_colour_with_ten_servers_at_1280(qapp, qtbot, tmp_path, ids):
    """The legend used to sit in the toolbar and be cut after a few of ten servers: it flows onto
    more lines now, every server's swatch in sight (the charts dock of a 1280x800 window)."""
    from qtpy.QtWidgets import QMainWindow

    from ryven_comfy_nodes.gui_charts import PENS, ChartsPanel
    from ryven_comfy_nodes.gui_docks import CHARTS_HEIGHT

    win = QMainWindow()
    panel = ChartsPanel()
    panel.pause.setChecked(True)  # no context: only the samples given below
    win.setCentralWidget(panel)
    themed(win, 1276, CHARTS_HEIGHT)
    qtbot.addWidget(win)
    assert not panel.legend.isVisible()  # no server yet: no empty black strip
    now = time.time()
    panel.store.add({sid: {"jobs_per_minute": [(now - 5, 1.0), (now, 2.0)]} for sid in ids})
    panel.redraw()
    qtbot.waitUntil(lambda: not panel.drawing, timeout=30_000)
    qtbot.waitUntil(lambda: panel.legend.isVisible())
    qapp.processEvents()
    legend = panel.legend
    assert legend.width() <= panel.width()
    needed = legend.heightForWidth(legend.width())
    assert legend.height() >= needed, (legend.height(), needed)  # every line of it shown, none cut
    img = legend.grab().toImage()
    img.save(str(tmp_path / "legend.png"))
    win.grab().save(str(tmp_path / "dock.png"))
    seen = {img.pixelColor(x, y).name() for x in range(img.width()) for y in range(img.height())}
    assert set(PENS) <= seen  # all ten servers' colours drawn
    assert panel.view.height() >= CHARTS_HEIGHT // 2  # the charts keep most of the dock


def test_log_dock_says_what_comes_when_empty(qapp, qtbot):
    from ryven_comfy_nodes.gui_log import LogPanel

    panel = LogPanel(lambda f: f())
    qtbot.addWidget(panel)
    assert "debug" in panel.text.placeholderText()
    panel.close_handler()


def contrast(a, b) -> float:
    """WCAG contrast ratio of two QColors."""
    def lum(c) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_log_lines_are_coloured_by_level_and_readable_on_the_dark_theme(qapp, qtbot, tmp_path):
    import logging

    from qtpy.QtGui import QColor

    from ryven_comfy_nodes.gui_log import LogPanel, level_colour

    logger = logging.getLogger("test.log_colours")
    logger.propagate = False
    panel = themed(LogPanel(lambda f: f(), logger=logger), 900, 200)
    qtbot.addWidget(panel)
    panel.level_box.setCurrentText("debug")
    logger.setLevel(logging.DEBUG)
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        logger.log(level, "server local2 said something at %s", logging.getLevelName(level))
    doc = panel.text.document()
    assert doc.blockCount() == 5
    drawn = [doc.findBlockByNumber(i).begin().fragment().charFormat().foreground().color().name() for i in range(5)]
    wanted = [level_colour(lv) for lv in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)]
    assert drawn == wanted
    assert len(set(drawn[:4])) == 4 and drawn[3] == drawn[4]  # grey, light, amber, red; critical red too
    background = QColor("#1e242a")  # the theme's
    assert all(contrast(QColor(c), background) >= 4.5 for c in set(drawn))
    img = panel.text.viewport().grab().toImage()
    img.save(str(tmp_path / "log.png"))
    seen = {img.pixelColor(x, y).name() for x in range(img.width()) for y in range(min(img.height(), 120))}
    assert {level_colour(logging.WARNING), level_colour(logging.ERROR)} <= seen  # drawn, not just set
    assert img.pixelColor(img.width() - 5, img.height() - 5).lightness() < 60  # on a dark background
    panel.level_box.setCurrentText("warning")  # a rebuild keeps the colours
    assert doc.blockCount() == 3
    assert doc.findBlockByNumber(0).begin().fragment().charFormat().foreground().color().name() == wanted[2]
    panel.close_handler()


def test_server_dialog_is_wide_and_centred_over_the_window(qapp, qtbot):
    from qtpy.QtWidgets import QMainWindow

    from ryven_comfy_nodes.gui_docks import ServersPanel
    from ryven_comfy_nodes.gui_manage_servers import DIALOG_WIDTH, ServerDialog

    win = QMainWindow()
    panel = ServersPanel(None, None)
    win.setCentralWidget(panel)
    win.resize(1280, 800)
    win.show()
    qtbot.addWidget(win)
    dlg = ServerDialog(None, None, panel)  # type: ignore[arg-type]  (no backend: nothing is tested here)
    dlg.show()
    qtbot.addWidget(dlg)
    assert dlg.width() >= DIALOG_WIDTH and dlg.url_edit.width() >= DIALOG_WIDTH // 2
    centre = dlg.frameGeometry().center() - win.frameGeometry().center()
    assert abs(centre.x()) <= 2 and abs(centre.y()) <= 2


def test_the_charts_tab_grows_the_bottom_area_while_raised(tmp_path):
    """In the editor (its own process, no server): the compact bottom area grows while the charts are
    the raised tab, and is back to its height when another tab is raised."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ryven_comfy_nodes.gui_docks import CHARTS_HEIGHT

    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RYVEN_COMFY_EDITOR_SETTINGS="none",
               RYVEN_COMFY_AUTOSAVE_DIR=str(tmp_path / "autosave"))
    proc = subprocess.run([sys.executable, "-m", "tests.ryven.layout_app", "--size", "1280x800", "--docks",
                           str(repo / "example_projects" / "cpu_chain.orchestrator.json")],
                          env=env, capture_output=True, text=True, timeout=600, cwd=repo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (_, servers), (_, charts), (_, jobs), (_, charts2), (_, servers2) = json.loads(
        proc.stdout.strip().splitlines()[-1])["docks"]
    assert servers < 200 and charts >= CHARTS_HEIGHT - 40 and charts2 >= CHARTS_HEIGHT - 40
    assert abs(jobs - servers) <= 8 and abs(servers2 - servers) <= 8


def test_a_redraw_asked_during_a_pass_finishes_the_pass_then_draws_once_more(qapp, qtbot):
    # On a machine slower than the refresh period, restarting the pass on every new sample drew
    # the first charts forever and never the last ones.
    from ryven_comfy_nodes.gui_charts import CHARTS, ChartsPanel

    panel = ChartsPanel()
    qtbot.addWidget(panel)
    panel.pause.setChecked(True)  # no context anyway: only the redraws below
    panel.show()
    now = time.time()
    panel.store.add({"s0": {"jobs_per_minute": [(now - 5, 1.0), (now, 2.0)]}})
    figures = sum(len(v) for v in CHARTS.values())
    panel.redraw()
    while panel.draws < figures:  # a redraw asked on every turn while the first pass runs
        panel.redraw()
        qapp.processEvents()
    qtbot.waitUntil(lambda: not panel.drawing, timeout=30_000)
    assert panel.draws == 2 * figures  # the pass under way, then one more: never restarted
