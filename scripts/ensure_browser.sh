#!/usr/bin/env bash
# Make sure the headless browser the viewer tests drive is installed: Debian's chromium and its
# chromedriver (Selenium is told to use these and never to download a browser or driver of its own).
# Idempotent; installing needs root. Prints one line.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "ensure_browser: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq || { echo "ensure_browser: apt-get update failed" >&2; exit 1; }
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { echo "ensure_browser: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi
echo "browser: $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2) for headless Chromium ready"
