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
# two processes (pytest-xdist), each test file whole on one of them so that module fixtures are
# built once; SITING_TEST_WORKERS=0 runs in this process (for -x, --pdb, or a single test)
WORKERS=${SITING_TEST_WORKERS:-2}
if [ "$WORKERS" = "0" ]; then
  echo "== pytest"; .venv/bin/python -m pytest "$@"
else
  echo "== pytest (-n $WORKERS)"; .venv/bin/python -m pytest -n "$WORKERS" --dist loadfile "$@"
fi
