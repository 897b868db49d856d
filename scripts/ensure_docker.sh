#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, and that the tools the agent image builds need exist.
# Idempotent; run as root. Prints one line on success.
set -euo pipefail

LOG=/var/log/mleredux-dockerd.log
export DEBIAN_FRONTEND=noninteractive

die() { echo "ensure_docker: $*" >&2; exit 1; }

apt_updated=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        die "need root to install: $*"
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}

# Build prerequisites: busybox-static (the tiny image's userland), gcc + libc6-dev (static validation client).
missing=()
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || missing+=(libc6-dev)

started=0
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "the Docker engine does not answer and starting it needs root"
    setsid dockerd --bridge=none --iptables=false --ip-masq=false >"$LOG" 2>&1 </dev/null &
    started=1
    deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "ensure_docker: dockerd did not answer within 60 s; last lines of $LOG:" >&2
            tail -n 30 "$LOG" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
fi

version=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
if [ "$started" = 1 ]; then
    echo "docker: engine $version started (log: $LOG)"
else
    echo "docker: engine $version ready"
fi
