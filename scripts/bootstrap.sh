#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the project into it; quick no-op when nothing changed.
# uv (from PyPI, into .venv) installs in parallel and from its cache; pip is the fallback. The local
# ComfyUI install (comfy_backend/local/provision.py) uses the same .venv/bin/uv.
# Usage: scripts/bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if (3,11) <= sys.version_info[:2] < (3,13) else 1)'; then
      PY="$cand"; break
    fi
  done
fi
[[ -n "$PY" ]] || { echo "error: Python 3.11 or 3.12 is needed (Ryven does not support 3.13)" >&2; exit 2; }

if [[ ! -x .venv/bin/python ]]; then
  echo "creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi

stamp=".venv/.ryven-comfy-installed"
hash="$(sha256sum < pyproject.toml | cut -c1-16)"
want="${hash}${extras}"
have="$(cat "$stamp" 2>/dev/null || true)"
# An install with the test extras also serves a plain run.
if [[ "$have" != "$want" && ! ( -z "$extras" && "$have" == "${hash}[test]" ) ]]; then
  echo "installing ryven-comfy${extras} into .venv" >&2
  [[ -x .venv/bin/uv ]] || .venv/bin/python -m pip install -q --disable-pip-version-check uv \
    || echo "uv could not be installed: using pip" >&2
  if [[ -x .venv/bin/uv ]] && .venv/bin/uv pip install -q --python .venv/bin/python -e ".${extras}"; then
    :
  else
    [[ -x .venv/bin/uv ]] && echo "uv failed: installing with pip" >&2
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".${extras}"
  fi
  echo "$want" > "$stamp"
fi
# venvs made before uv was used get it too (the local ComfyUI install looks for it there)
[[ -x .venv/bin/uv ]] || .venv/bin/python -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1 \
  || echo "uv could not be installed: the local ComfyUI installs with pip (slower)" >&2
