"""Our package loaded by Ryven's own ways, not by our launcher: each in a new process (Ryven's Config is a
singleton, and a package is imported once per process), offscreen, with a temporary HOME."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, WORKFLOWS

PACKAGE_DIR = REPO / "ryven_comfy_nodes"
UTILITY = {f"ryven_comfy_nodes.util.{k}" for k in ("image", "text", "number", "seed", "preview", "save")}
WORKFLOW_TYPES = {f"ryven_comfy_nodes.wf.{p.name.removesuffix('.json').removesuffix('_api')}"
                  for p in WORKFLOWS.glob("*.json")}

PRELUDE = """
import json, os, sys
os.environ["QT_API"] = "pyside6"
from qtpy.QtWidgets import QApplication
from ryven import run_ryven
app = QApplication(sys.argv[:1])
def report(ed):
    app.processEvents()  # our gui module installs its menu and dock on the first event loop turn
    ours = {c.identifier: getattr(p, "directory", None) for c, p in ed.node_packages.items()
            if c.identifier.startswith("ryven_comfy_nodes.")}
    menus = [a.text() for a in ed.menuBar().actions()]
    print("RESULT " + json.dumps({"types": ours, "menus": menus}), flush=True)
    os._exit(0)
"""

SYMLINK_SCRIPT = PRELUDE + """
argv, sys.argv = sys.argv, sys.argv[:1]
ed = run_ryven(qt_app=app, nodes=["ryven_comfy_nodes"], qt_api="pyside6", show_dialog=False, defer_code_loading=True)
report(ed)
"""

IMPORT_NODES_SCRIPT = PRELUDE + """
from qtpy.QtWidgets import QFileDialog
nodes_py = sys.argv[1]
sys.argv = sys.argv[:1]
ed = run_ryven(qt_app=app, qt_api="pyside6", show_dialog=False, defer_code_loading=True)
QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: (nodes_py, "Python File (*.py)"))
ed.ui.actionImport_Nodes.trigger()  # File -> Import Nodes, the chosen file being our nodes.py
report(ed)
"""

NO_GUI_SCRIPT = """
import json, os, sys
os.environ["RYVEN_MODE"] = "no-gui"
from ryven.main.packages.nodes_package import NodesPackage, import_nodes_package
from ryvencore import Session
nodes, data_types = import_nodes_package(NodesPackage(sys.argv[1]))
session = Session(gui=False, load_addons=False)
session.register_node_types(nodes)
qt = sorted(m for m in sys.modules if m.startswith(("PySide6", "qtpy")))
print("RESULT " + json.dumps({"types": {n.identifier: None for n in session.nodes}, "qt": qt}), flush=True)
"""


def run_script(script: str, home: Path, *args: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RYVEN_COMFY_", "RYVEN_MODE"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen", QTWEBENGINE_DISABLE_SANDBOX="1")
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
                       env=env, cwd=str(home))
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    return json.loads(line.removeprefix("RESULT "))


def test_found_in_home_ryven_nodes_through_a_symlink(tmp_path):
    home = tmp_path / "home"
    (home / ".ryven" / "nodes").mkdir(parents=True)
    link = home / ".ryven" / "nodes" / "ryven_comfy_nodes"
    link.symlink_to(PACKAGE_DIR, target_is_directory=True)
    got = run_script(SYMLINK_SCRIPT, home)
    assert set(got["types"]) >= UTILITY | WORKFLOW_TYPES, got["types"]
    assert set(got["types"].values()) == {str(link)}  # Ryven's NodesPackage is the ~/.ryven/nodes entry
    assert "ComfyUI" in got["menus"]


def test_file_import_nodes_of_the_package_directory(tmp_path):
    got = run_script(IMPORT_NODES_SCRIPT, tmp_path / "home", str(PACKAGE_DIR / "nodes.py"))
    assert set(got["types"]) >= UTILITY | WORKFLOW_TYPES, got["types"]
    assert set(got["types"].values()) == {str(PACKAGE_DIR)}
    assert "ComfyUI" in got["menus"]


def test_ryven_import_nodes_package_without_gui(tmp_path):
    got = run_script(NO_GUI_SCRIPT, tmp_path / "home", str(PACKAGE_DIR))
    assert set(got["types"]) >= UTILITY | WORKFLOW_TYPES, got["types"]
    assert got["qt"] == []  # no Qt imported without a GUI
