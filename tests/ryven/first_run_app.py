"""The editor's first run with a fake, slow local-servers start (no install): run in its own process
by test_first_run (Ryven's main window is one per process), and by hand to look at the window.

    python -m tests.ryven.first_run_app --servers FAKE.yaml [--fail] [--screenshot FILE]

The fake starter reports the install's steps, writes lines into the install log, then waits until
the window is shown and a run was refused, and returns FAKE.yaml (or fails, with ``--fail``).
Prints one JSON line of what it saw; exit 0 when every check passed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

from comfy_backend.errors import ProvisionError
from comfy_backend.local.provision import STEPS, InstallStep, install_log_path

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "example_projects" / "cpu_chain.orchestrator.json"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", required=True)
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    os.environ["QT_API"] = "pyside6"
    release = threading.Event()

    def starter(count: int, progress, on_step) -> Path:  # type: ignore[no-untyped-def]
        log = install_log_path()
        log.parent.mkdir(parents=True, exist_ok=True)
        for i, (title, weight) in enumerate(STEPS[:4], 1):
            on_step(InstallStep(i, len(STEPS), title, weight))
            progress(f"[{i}/{len(STEPS)}] {title}")
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"$ step {i}\nResolved {10 * i} packages in 0.{i}s\n")
        release.wait(120)
        if args.fail:
            raise ProvisionError(f"could not install the ComfyUI dependencies for the local ComfyUI (exit code 1): "
                                 f"ERROR: No matching distribution found for kornia; full log: {log}")
        return Path(args.servers)

    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from ryven_comfy_nodes.gui_webui import prepare_app
    from ryven_comfy_nodes.launcher import open_editor

    prepare_app()
    app = QApplication(sys.argv[:1])
    editor = open_editor(None, PROJECT, app=app, local=2, starter=starter)
    editor.resize(1500, 900)
    editor.show()
    first_run = editor._ryven_comfy["first_run"]
    ctx = first_run.ctx
    seen: dict[str, object] = {}

    def during() -> None:
        """The window is up while the start waits: a run is refused with the step in the message."""
        seen["shown_before_ready"] = editor.isVisible() and not first_run.ready
        seen["panel_step"] = first_run.panel.step.text()
        seen["panel_percent"] = first_run.panel.bar.value()
        seen["panel_tail"] = first_run.panel.tail.toPlainText()
        try:
            ctx.runner.run_flow(editor.get_current_flow())
            seen["refused"] = ""
        except Exception as exc:
            seen["refused"] = str(exc)
        if args.screenshot:
            editor.grab().save(args.screenshot)
        release.set()

    def after(ok: bool) -> None:
        seen["ok"] = ok
        seen["error_text"] = first_run.panel.error.text() if first_run.panel.error.isVisible() else ""
        seen["servers"] = sorted(s.id for s in ctx.orch.servers())
        seen["table_rows"] = first_run.editor._ryven_comfy["dock"].widget().table.rowCount()
        if args.screenshot:
            editor.grab().save(args.screenshot.replace(".png", "-after.png"))
        editor._ryven_comfy["close_guard"].ask = False
        editor.close()
        app.quit()

    def wait_for_tail() -> None:
        if first_run.start.state.step >= 4:
            first_run.panel.refresh_tail()
            during()
        else:
            QTimer.singleShot(100, wait_for_tail)

    QTimer.singleShot(200, wait_for_tail)
    first_run.when_ready(lambda ok: QTimer.singleShot(500, lambda: after(ok)))
    app.exec()
    ctx.dispatcher.stop()
    ctx.close()
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
