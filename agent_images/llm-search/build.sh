#!/usr/bin/env bash
# build.sh TAG -- build the "llm-search" agent image with no registry: the baseline's cached Python
# base (../baseline/base.sh: Debian's python3 + pandas, numpy, scikit-learn), plus a cached layer with
# the official `openai` package (wheels downloaded on the host by pip, installed in a network-less
# container), plus one thin layer holding the agent's code in /home/agent.
set -euo pipefail

die() { echo "llm-search/build.sh: $*" >&2; exit 1; }
say() { echo "llm-search: $*"; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: build.sh TAG"
TAG=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed (run scripts/ensure_docker.sh)"
[ -f "$HERE/agent/main.py" ] || die "$HERE/agent/main.py is missing"

# The openai package and the pip that installs it; its own dependencies are resolved by pip.
OPENAI_PIN="openai==3.57.0"
PYVER=3.11

umask 022
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mleredux-llm-search.XXXXXX")
CONTAINER=""
CHILD=""
cleanup() {
    if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
    if [ -n "$CONTAINER" ]; then docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# In the background and waited for, so INT/TERM reach us at once.
background() {
    "$@" &
    CHILD=$!
    local status=0
    wait "$CHILD" || status=$?
    CHILD=""
    return "$status"
}
sha() { sha256sum | cut -c1-12; }

start=$SECONDS
background bash "$REPO/agent_images/baseline/base.sh" "$WORK/base-tag" || die "the Python base image could not be built"
BASE=$(cat "$WORK/base-tag")

PYTHON=${MLEREDUX_HOST_PYTHON:-}
if [ -z "$PYTHON" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=$(command -v python3 || true); fi
fi
[ -n "$PYTHON" ] && [ -x "$PYTHON" ] || die "no host Python found (set MLEREDUX_HOST_PYTHON)"
PIP_PIN="pip==$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("pip"))')"

LLM_KEY=$({ echo "$BASE"; echo "$OPENAI_PIN"; echo "$PIP_PIN"; sed -n '/^# -- layer: openai/,$p' "$HERE/build.sh"; } | sha)
LLM_TAG="mleredux-base-llm:$LLM_KEY"

# -- layer: openai -----------------------------------------------------------------------------------
if docker image inspect "$LLM_TAG" >/dev/null 2>&1; then
    say "reusing $LLM_TAG"
else
    ARCH=$(uname -m)
    platforms=()
    for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_${ARCH}"); done
    platforms+=(--platform "manylinux2014_${ARCH}" --platform any)
    mkdir -p "$WORK/wheels"
    say "downloading wheels for $OPENAI_PIN (Python $PYVER)"
    background "$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none \
        "${platforms[@]}" -d "$WORK/wheels" "$PIP_PIN" "$OPENAI_PIN" >"$WORK/pip.log" 2>&1 \
        || { tail -n 40 "$WORK/pip.log"; die "pip download failed (is PyPI reachable through pip?)"; }
    chmod -R a+rX "$WORK/wheels"
    CONTAINER="mleredux-llm-build-$$-$RANDOM"
    say "installing openai in a network-less container"
    background docker run --pull=never --network none --name "$CONTAINER" -v "$WORK/wheels:/wheels:ro" "$BASE" \
        sh -ec '
            pip=$(ls /wheels/pip-*.whl | head -n 1)
            python3 "$pip/pip" install --quiet --no-index --find-links /wheels --break-system-packages \
                --no-cache-dir --disable-pip-version-check --root-user-action=ignore '"$OPENAI_PIN"'
            python3 -c "import openai; print(\"openai\", openai.__version__)"
        ' || die "installing openai failed"
    docker commit -c 'ENV LANG=C.UTF-8' -c 'CMD ["/usr/bin/python3"]' "$CONTAINER" "$LLM_TAG" >/dev/null \
        || die "docker commit of $LLM_TAG failed"
    docker rm -f "$CONTAINER" >/dev/null
    CONTAINER=""
    for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' mleredux-base-llm); do
        [ "$old" = "$LLM_TAG" ] || docker rmi "$old" >/dev/null 2>&1 || true
    done
fi

say "adding the agent's code to $LLM_TAG"
mkdir -p "$WORK/stage/agent"
find "$HERE/agent" -maxdepth 1 -type f -name '*.py' -exec cp {} "$WORK/stage/agent/" \;
chmod 0755 "$WORK/stage/agent"
chmod 0644 "$WORK/stage/agent/"*.py
CONTAINER="mleredux-llm-search-build-$$-$RANDOM"
docker create --pull=never --name "$CONTAINER" "$LLM_TAG" true >/dev/null || die "docker create from $LLM_TAG failed"
tar -C "$WORK/stage" --numeric-owner --owner=0 --group=0 -c agent \
    | docker cp - "$CONTAINER:/home" || die "copying the agent into the image failed"
docker commit \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp AGENT_DIR=/home/agent' \
    -c 'WORKDIR /home' \
    -c 'USER 65534:65534' \
    -c 'LABEL mleredux.agent=llm-search' \
    -c 'CMD ["/usr/bin/python3", "/home/agent/main.py"]' \
    "$CONTAINER" "$TAG" >/dev/null || die "docker commit of $TAG failed"
say "built $TAG in $((SECONDS - start)) s ($(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1 / 1e6}'))"
