"""Shared fixtures. Real ComfyUI servers come from the ``tests.real_servers`` plugin (once per session)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

pytest_plugins = ["tests.real_servers", "tests.fake_fixtures"]
