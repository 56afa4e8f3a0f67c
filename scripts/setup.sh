#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install siting with every extra ([all]: patrol, batch, osm,
# maps) and its development tools.
# Usage: scripts/setup.sh            (idempotent; re-run after pulling)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[all,dev]"
# Debian's Chromium (the browser tests of the offline meeting maps) and the Noto CJK font
# (Chinese text on static maps), when missing and apt-get is at hand
if command -v apt-get >/dev/null 2>&1 &&
  { ! command -v chromium >/dev/null 2>&1 ||
    [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; }; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
