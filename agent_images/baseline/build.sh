#!/usr/bin/env bash
# build.sh TAG -- build the "baseline" agent image with no registry: the cached Python base
# (base.sh: Debian's python3 + pandas, numpy, scikit-learn wheels) plus one thin layer holding the
# agent's code in /home/agent. When only the agent's code changed, this is a few seconds.
set -euo pipefail

die() { echo "baseline/build.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: build.sh TAG"
TAG=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed (run scripts/ensure_docker.sh)"
[ -f "$HERE/agent/main.py" ] || die "$HERE/agent/main.py is missing"

umask 022
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mleredux-baseline.XXXXXX")
CONTAINER=""
BASE_PID=""
cleanup() {
    # base.sh cleans up after itself when told to stop.
    if [ -n "$BASE_PID" ]; then kill "$BASE_PID" 2>/dev/null || true; wait "$BASE_PID" 2>/dev/null || true; fi
    if [ -n "$CONTAINER" ]; then docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
# In the background and waited for, so INT/TERM reach us (and base.sh) at once.
bash "$HERE/base.sh" "$WORK/base-tag" &
BASE_PID=$!
status=0
wait "$BASE_PID" || status=$?
BASE_PID=""
[ "$status" = 0 ] || die "the Python base image could not be built"
BASE=$(cat "$WORK/base-tag")

echo "baseline: adding the agent's code to $BASE"
mkdir -p "$WORK/stage/agent"
# Only the agent's sources: caches and editor files stay out of the image.
find "$HERE/agent" -maxdepth 1 -type f -name '*.py' -exec cp {} "$WORK/stage/agent/" \;
chmod 0755 "$WORK/stage/agent"
chmod 0644 "$WORK/stage/agent/"*.py

CONTAINER="mleredux-baseline-build-$$-$RANDOM"
docker create --pull=never --name "$CONTAINER" "$BASE" true >/dev/null || die "docker create from $BASE failed"
tar -C "$WORK/stage" --numeric-owner --owner=0 --group=0 -c agent \
    | docker cp - "$CONTAINER:/home" || die "copying the agent into the image failed"
docker commit \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp AGENT_DIR=/home/agent' \
    -c 'WORKDIR /home' \
    -c 'USER 65534:65534' \
    -c 'LABEL mleredux.agent=baseline' \
    -c 'CMD ["/usr/bin/python3", "/home/agent/main.py"]' \
    "$CONTAINER" "$TAG" >/dev/null || die "docker commit of $TAG failed"
size=$(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1 / 1e6}')
echo "baseline: built $TAG in $((SECONDS - start)) s ($size)"
