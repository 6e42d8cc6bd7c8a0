import subprocess
import sys


def test_importing_the_backend_loads_no_qt():
    code = (
        "import sys, pkgutil, importlib, comfy_backend\n"
        "for m in pkgutil.walk_packages(comfy_backend.__path__, 'comfy_backend.'):\n"
        "    if '.local.stub' in m.name: continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6','PyQt5','PyQt6','PySide2','qtpy','shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
