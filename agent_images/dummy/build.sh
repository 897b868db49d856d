#!/usr/bin/env bash
# build.sh TAG -- build the tiny "dummy" agent image with no registry:
# a rootfs made of Debian's static busybox, the static validation client and /agent/run.sh,
# imported with `docker import`.
set -euo pipefail

die() { echo "dummy/build.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: build.sh TAG"
TAG=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COMMON="$HERE/../common"
BUSYBOX=${BUSYBOX:-/bin/busybox}

command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed (run scripts/ensure_docker.sh)"
command -v gcc >/dev/null 2>&1 || die "gcc is not installed (run scripts/ensure_docker.sh, or apt-get install gcc libc6-dev)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install Debian's busybox-static (apt-get install busybox-static)"
fi

umask 022
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mleredux-dummy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"
mkdir -p "$ROOT"
chmod 0755 "$ROOT"

echo "dummy: compiling mleredux-validate"
mkdir -p "$ROOT/usr/local/bin"
gcc -static -O2 -s -o "$ROOT/usr/local/bin/mleredux-validate" "$COMMON/mleredux-validate.c" \
    || die "compiling mleredux-validate.c failed (is libc6-dev installed?)"
chmod 0755 "$ROOT/usr/local/bin/mleredux-validate"

echo "dummy: assembling rootfs from $BUSYBOX"
mkdir -p "$ROOT/bin" "$ROOT/etc" "$ROOT/agent" "$ROOT/home" "$ROOT/run" "$ROOT/root" \
    "$ROOT/proc" "$ROOT/sys" "$ROOT/dev"
install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
n=0
for applet in $("$BUSYBOX" --list); do
    case "$applet" in busybox | */*) continue ;; esac
    ln -sf busybox "$ROOT/bin/$applet"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || die "$BUSYBOX --list gave no applets"
[ -e "$ROOT/bin/sh" ] || die "$BUSYBOX has no sh applet"

cat >"$ROOT/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
PASSWD
cat >"$ROOT/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
chmod 0644 "$ROOT/etc/passwd" "$ROOT/etc/group"
mkdir -p "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"

install -m 0755 "$HERE/run.sh" "$ROOT/agent/run.sh"

echo "dummy: importing $TAG"
tar -C "$ROOT" --numeric-owner --owner=0 --group=0 -c . \
    | docker import \
        -c 'ENV PATH=/usr/local/bin:/bin' \
        -c 'LABEL mleredux.agent=dummy' \
        -c 'CMD ["/bin/sh","/agent/run.sh"]' \
        - "$TAG" >/dev/null \
    || die "docker import of $TAG failed"
echo "dummy: built $TAG ($n busybox applets)"
