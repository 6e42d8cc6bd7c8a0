#!/usr/bin/env bash
# Debian/Ubuntu libraries that Qt (PySide6, QtWebEngine) needs; installs only what is missing.
# Usage: scripts/system_deps.sh   (no-op when everything is there, or when not on a Debian-like system)
set -euo pipefail
PKGS=(libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 libnss3 libasound2 fonts-dejavu-core
      libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
      libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcomposite1 libxdamage1
      libxrandr2 libxtst6 libxkbfile1)
command -v dpkg >/dev/null 2>&1 || exit 0
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing system libraries for Qt: ${missing[*]}" >&2
SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
