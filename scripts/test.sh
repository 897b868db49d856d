#!/usr/bin/env bash
# The test command (README and .ci/run): installs what is missing, checks lint and types, runs the suite
# against the real Docker engine, real service processes and a real S3-protocol server on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
bash scripts/ensure_browser.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
