#!/usr/bin/env bash
# Install everything and run the whole test suite (what CI runs through .ci/run).
# Real ComfyUI servers are installed once into the user cache and started once per test session.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
# Lint and types first: they fail in seconds (ruff over the repo, mypy strict for comfy_backend).
echo "== ruff" >&2
.venv/bin/ruff check .
echo "== mypy" >&2
.venv/bin/mypy comfy_backend
bash scripts/system_deps.sh   # Qt's system libraries (GUI tests); installs only what is missing
export QT_QPA_PLATFORM=offscreen
[[ "$(id -u)" == "0" ]] && export QTWEBENGINE_DISABLE_SANDBOX=1
echo "== provisioning the local CPU ComfyUI (cached after the first run)" >&2
.venv/bin/python -c "from comfy_backend.local.provision import ensure_comfyui; from comfy_backend.local.frontend import ensure_frontend; ensure_comfyui(progress=print); ensure_frontend(progress=print)"
echo "== tests" >&2
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
