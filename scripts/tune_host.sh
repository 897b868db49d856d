#!/usr/bin/env bash
# The host's CPU scheduling, so the services' CPU priorities hold (docs/operations.md, "CPU priority"):
# turns the kernel's autogroup scheduling off now and, where /etc/sysctl.d exists, at boot.
#
# With autogroup on, each session is one scheduling entity, and a group's weight is spread over the
# CPUs by where its load has been: the gateway's gRPC I/O threads, which wake for a moment on whichever
# CPU, got a sliver of the gateway's nice -10 weight there and waited tens of milliseconds behind the
# Docker daemon's logging (traced; benchmarks/README.md, thirteenth pass). Off, every thread competes
# with its own nice value.
#
# Idempotent. MLEREDUX_KEEP_AUTOGROUP=1 leaves the setting as it is. Without root, or where the kernel
# has no such setting or /proc/sys is read-only (some containers), it says so and changes nothing.
# MLEREDUX_SYSCTL_SETTING and MLEREDUX_SYSCTL_DIR name other files (for the tests).
set -euo pipefail

SETTING=${MLEREDUX_SYSCTL_SETTING:-/proc/sys/kernel/sched_autogroup_enabled}
DIR=${MLEREDUX_SYSCTL_DIR:-/etc/sysctl.d}
CONF="$DIR/60-mleredux-autogroup.conf"

say() { echo "tune_host: $*"; }

if [ "${MLEREDUX_KEEP_AUTOGROUP:-0}" = 1 ]; then
    say "autogroup scheduling left as it is ($(cat "$SETTING" 2>/dev/null || echo 'no such setting'); MLEREDUX_KEEP_AUTOGROUP=1)"
    exit 0
fi
if [ ! -e "$SETTING" ]; then
    say "this kernel has no autogroup scheduling ($SETTING): nothing to change"
    exit 0
fi
if [ "$(cat "$SETTING" 2>/dev/null)" = 0 ]; then
    say "autogroup scheduling is off ($SETTING = 0)"
elif { echo 0 >"$SETTING"; } 2>/dev/null; then
    say "autogroup scheduling turned off ($SETTING = 0)"
else
    say "could not turn autogroup scheduling off (needs root and a writable $SETTING); the services' CPU priorities count per session"
    exit 0
fi
if [ -d "$DIR" ] && [ ! -f "$CONF" ]; then
    if { printf '%s\n' \
        "# Written by MLE-Bench Redux's scripts/tune_host.sh: the services' CPU priorities count per thread," \
        "# not per session (docs/operations.md, \"CPU priority\"). Delete this file to boot with the default." \
        "kernel.sched_autogroup_enabled = 0" >"$CONF"; } 2>/dev/null; then
        say "kept off at boot ($CONF)"
    else
        say "could not write $CONF: autogroup scheduling is off until the next boot"
    fi
fi
