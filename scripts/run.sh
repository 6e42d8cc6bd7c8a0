#!/usr/bin/env bash
# The main job on a fresh machine: install, then open the ryven-comfy editor (Ryven canvas of
# ComfyUI workflow nodes) with the example project.
# The window opens at once; with no servers configured, local CPU ComfyUI servers are installed (once,
# cached) and started in the background, their progress shown in the window.
# Extra arguments go to 'ryven-comfy editor' (e.g. my-project.orchestrator.json --servers my.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/system_deps.sh
[[ "$(id -u)" == "0" ]] && export QTWEBENGINE_DISABLE_SANDBOX=1
if [[ $# -eq 0 || "$1" == -* ]]; then
  set -- example_projects/cpu_chain.orchestrator.json "$@"
fi
exec .venv/bin/ryven-comfy editor "$@"
