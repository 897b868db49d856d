#!/usr/bin/env bash
# Installs everything MLE-Bench Redux needs on a fresh Debian machine (run as root), idempotently:
# the host's CPU scheduling (scripts/tune_host.sh), the Docker engine (started if it does not answer)
# and image-build tools, then a venv in .venv with the project and its test extras, and the non-Python
# tools the suite runs (buf, via npm, into tools/node_modules). Safe to run again; skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/tune_host.sh
bash scripts/ensure_docker.sh

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.mleredux-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi

# Node.js and the Node client's gRPC packages (clients/node, pinned by its package-lock.json), for the
# suite's other-language client test. npm ci only when the lock file changed since the last install.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "install: need root to install nodejs and npm" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -f clients/node/node_modules/.package-lock.json ] \
    || [ clients/node/package-lock.json -nt clients/node/node_modules/.package-lock.json ]; then
    (cd clients/node && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

bash scripts/install_tools.sh
echo "install: $(.venv/bin/mleredux --help >/dev/null && echo 'mleredux ready in .venv')"
