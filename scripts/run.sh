#!/usr/bin/env bash
# The main job on a fresh machine: install, then run ryven-comfy.
# With no servers configured, local CPU ComfyUI servers are installed (once, cached) and started.
# Extra arguments go to 'ryven-comfy demo' (e.g. --servers my-servers.yaml --count 12).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/ryven-comfy demo "$@"
