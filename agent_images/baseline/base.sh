#!/usr/bin/env bash
# base.sh TAG_FILE -- make sure the baseline's Python base image exists; write its tag into TAG_FILE.
#
# Two cached layers, each under a content tag so an unchanged recipe is never rebuilt:
#   mleredux-base-debian:<hash>  Debian's essential packages + python3 + libstdc++6 (numpy needs it),
#                                made by mmdebstrap with no registry and `docker import`ed;
#   mleredux-base-python:<hash>  + wheels of pandas, numpy, scikit-learn, scipy, joblib, threadpoolctl
#                                (and their small deps), pinned to the versions in the host's venv,
#                                downloaded on the host by pip and installed in a network-less container.
# The Debian mirror is the one apt on this host already uses (read at run time, never written here).
set -euo pipefail

die() { echo "baseline/base.sh: $*" >&2; exit 1; }
say() { echo "base: $*"; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: base.sh TAG_FILE"
TAG_FILE=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

SUITE=bookworm
INCLUDE=python3,libstdc++6
PYVER=3.11
# Paths dpkg never unpacks: documentation, manuals and translations are dead weight in an agent image.
EXCLUDES=(
    '/usr/share/doc/*'
    '/usr/share/man/*'
    '/usr/share/info/*'
    '/usr/share/locale/*'
    '/usr/share/lintian/*'
    '/usr/share/bug/*'
)
KEEP=('/usr/share/doc/*/copyright')
# Merged /usr set up by mmdebstrap's own hook, so bookworm's `usrmerge` (and the 50 MB of perl it
# depends on) is not installed.
HOOKS=/usr/share/mmdebstrap/hooks/merged-usr
# Requirements installed from wheels; each is pinned to the host venv's version when it has one.
REQUIREMENTS=(pandas numpy scikit-learn scipy joblib threadpoolctl python-dateutil six tzdata narwhals cloudpickle)

command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed (run scripts/ensure_docker.sh)"

sha() { sha256sum | cut -c1-12; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# -- the host Python whose versions we copy ----------------------------------------------------------
PYTHON=${MLEREDUX_HOST_PYTHON:-}
if [ -z "$PYTHON" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=$(command -v python3 || true); fi
fi
[ -n "$PYTHON" ] && [ -x "$PYTHON" ] || die "no host Python found (set MLEREDUX_HOST_PYTHON)"

ARCH=$(uname -m)
case "$ARCH" in
    x86_64 | aarch64) ;;
    *) die "unsupported machine $ARCH (wheels are fetched for x86_64 and aarch64 only)" ;;
esac

PINS=$("$PYTHON" - "${REQUIREMENTS[@]}" pip <<'PY'
import importlib.metadata as metadata
import sys

for name in sys.argv[1:]:
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(name)
PY
) || die "$PYTHON cannot report its package versions"
PIP_PIN=$(printf '%s\n' "$PINS" | grep -E '^pip(==|$)')
REQ_PINS=$(printf '%s\n' "$PINS" | grep -vE '^pip(==|$)')

DEBIAN_KEY=$(printf 'recipe=1\nsuite=%s\ninclude=%s\narch=%s\nexclude=%s\nkeep=%s\nhooks=%s\n' \
    "$SUITE" "$INCLUDE" "$ARCH" "${EXCLUDES[*]}" "${KEEP[*]}" "$HOOKS" | sha)
DEBIAN_TAG="mleredux-base-debian:$DEBIAN_KEY"
PYTHON_KEY=$({ echo "$DEBIAN_TAG"; echo "$PIP_PIN"; echo "$REQ_PINS"; cat "$HERE/base.sh"; } | sha)
PYTHON_TAG="mleredux-base-python:$PYTHON_KEY"

if image_exists "$PYTHON_TAG"; then
    say "reusing $PYTHON_TAG"
    echo "$PYTHON_TAG" >"$TAG_FILE"
    exit 0
fi

# -- everything temporary goes on every path ---------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mleredux-base.XXXXXX")
CONTAINER=""
CHILD=""
cleanup() {
    if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; fi
    if [ -n "$CONTAINER" ]; then docker rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Long steps run in the background and are waited for: bash defers a trap until a foreground child
# ends, so INT/TERM would otherwise wait for a whole mmdebstrap or pip install.
background() {
    "$@" &
    CHILD=$!
    local status=0
    wait "$CHILD" || status=$?
    CHILD=""
    return "$status"
}

# -- layer 1: Debian rootfs --------------------------------------------------------------------------
mirror() {
    # The first URIs of a deb822 source naming the suite, else the first one-line `deb` entry.
    local uri=""
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk -v suite="$SUITE" '
            /^URIs:/ { uris = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
            /^$/ { if (found && uris != "") { print uris; exit } found = 0; uris = "" }
            END { if (found && uris != "") print uris }
        ' /etc/apt/sources.list.d/debian.sources | head -n 1)
    fi
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit } $1 == "deb" { print $3; exit }' /etc/apt/sources.list)
    fi
    echo "$uri"
}

if image_exists "$DEBIAN_TAG"; then
    say "reusing $DEBIAN_TAG"
else
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "mmdebstrap is missing and installing it needs root (apt-get install mmdebstrap)"
        say "installing mmdebstrap with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 || {
            apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
        } || die "apt-get install mmdebstrap failed"
    fi
    [ -d "$HOOKS" ] || die "$HOOKS is missing (mmdebstrap too old?)"
    MIRROR=$(mirror)
    [ -n "$MIRROR" ] || die "cannot find apt's Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    dpkgopts=()
    for p in "${EXCLUDES[@]}"; do dpkgopts+=("--dpkgopt=path-exclude=$p"); done
    for p in "${KEEP[@]}"; do dpkgopts+=("--dpkgopt=path-include=$p"); done
    say "mmdebstrap $SUITE ($INCLUDE) from $MIRROR"
    start=$SECONDS
    background mmdebstrap --quiet --variant=essential --include="$INCLUDE" --hook-dir="$HOOKS" "${dpkgopts[@]}" \
        "$SUITE" "$WORK/rootfs.tar" "$MIRROR" >"$WORK/mmdebstrap.log" 2>&1 \
        || { tail -n 40 "$WORK/mmdebstrap.log"; die "mmdebstrap failed (its last lines are above)"; }
    say "rootfs ready in $((SECONDS - start)) s ($(du -m "$WORK/rootfs.tar" | cut -f1) MB); importing $DEBIAN_TAG"
    docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/usr/bin/python3"]' \
        "$WORK/rootfs.tar" "$DEBIAN_TAG" >/dev/null || die "docker import of $DEBIAN_TAG failed"
    rm -f "$WORK/rootfs.tar"
fi

# -- layer 2: wheels ---------------------------------------------------------------------------------
mkdir -p "$WORK/wheels"
printf '%s\n' "$REQ_PINS" >"$WORK/wheels/requirements.txt"
platforms=()
for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_${ARCH}"); done
platforms+=(--platform "manylinux2014_${ARCH}" --platform any)
say "downloading wheels for Python $PYVER: $(printf '%s' "$REQ_PINS" | tr '\n' ' ')"
start=$SECONDS
background "$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none \
    "${platforms[@]}" -d "$WORK/wheels" "$PIP_PIN" -r "$WORK/wheels/requirements.txt" >"$WORK/pip.log" 2>&1 \
    || { tail -n 40 "$WORK/pip.log"; die "pip download failed (is PyPI reachable through pip?)"; }
say "wheels downloaded in $((SECONDS - start)) s ($(du -m "$WORK/wheels" | cut -f1) MB)"
chmod -R a+rX "$WORK/wheels"

CONTAINER="mleredux-base-build-$$-$RANDOM"
say "installing wheels in a network-less container"
start=$SECONDS
# `tests` packages are never imported at run time and weigh tens of MB across numpy, scipy, pandas, sklearn.
background docker run --pull=never --network none --name "$CONTAINER" -v "$WORK/wheels:/wheels:ro" "$DEBIAN_TAG" \
    sh -ec '
        pip=$(ls /wheels/pip-*.whl | head -n 1)
        python3 "$pip/pip" install --quiet --no-index --find-links /wheels --break-system-packages \
            --no-cache-dir --disable-pip-version-check --root-user-action=ignore -r /wheels/requirements.txt
        site=/usr/local/lib/python3*/dist-packages
        find $site -depth -type d -name tests -prune -exec rm -rf {} +
        find $site -type f \( -name "*.pyx" -o -name "*.pxd" \) -delete
        python3 -c "import numpy, pandas, scipy, sklearn; print(\"python\", __import__(\"sys\").version.split()[0], \"numpy\", numpy.__version__, \"pandas\", pandas.__version__, \"scikit-learn\", sklearn.__version__)"
    ' || die "installing the wheels failed"
docker commit -c 'ENV LANG=C.UTF-8' -c 'CMD ["/usr/bin/python3"]' "$CONTAINER" "$PYTHON_TAG" >/dev/null \
    || die "docker commit of $PYTHON_TAG failed"
say "$PYTHON_TAG ready in $((SECONDS - start)) s ($(docker image inspect --format '{{.Size}}' "$PYTHON_TAG" | awk '{printf "%d MB", $1 / 1e6}'))"
# Older recipes' tags go: an image still used by an agent image or a container only loses its tag.
for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' mleredux-base-python) \
    $(docker image ls --format '{{.Repository}}:{{.Tag}}' mleredux-base-debian); do
    case "$old" in "$PYTHON_TAG" | "$DEBIAN_TAG") ;; *) docker rmi "$old" >/dev/null 2>&1 || true ;; esac
done
echo "$PYTHON_TAG" >"$TAG_FILE"
