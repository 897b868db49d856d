#!/usr/bin/env bash
# Installs the command-line tools the suite runs that are not Python packages, idempotently, into
# tools/node_modules (gitignored): buf (npm's @bufbuild/buf, pinned in tools/package.json) for
# `buf lint` of protos/. Needs node and npm; skips the install when the pinned version is there.
set -euo pipefail
cd "$(dirname "$0")/../tools"

want=$(node -p 'require("./package.json").devDependencies["@bufbuild/buf"]')
have=$(./node_modules/.bin/buf --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "install_tools: npm is needed for buf; installing it needs root" >&2; exit 1; }
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
            || { echo "install_tools: apt-get install nodejs npm failed" >&2; exit 1; }
    fi
    npm install --no-audit --no-fund --silent >/dev/null || { echo "install_tools: npm install failed" >&2; exit 1; }
fi
echo "tools: buf $(./node_modules/.bin/buf --version) ready"
