#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every check CI runs: ruff lint, ruff format, mypy, pytest.
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== mypy siting"; .venv/bin/mypy siting
# CI must not skip the browser and font tests: a missing Chromium or CJK font is a failure
export SITING_REQUIRE_BROWSER=1
echo "== pytest"; .venv/bin/python -m pytest "$@"
