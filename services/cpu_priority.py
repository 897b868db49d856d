"""A service's share of a saturated CPU: its nice value, and its scheduling group's.

Linux with autogroup scheduling (the default on desktop and server kernels) shares the CPU between
sessions first and between a session's processes second. The Docker daemon runs in a session of its
own, so when one agent prints as fast as it can, dockerd (logging each line) gets as much CPU as
every service of ours together, and a nice value set on the gateway alone only counts against the
runner and the clients in its session. Measured here (2 cores, a 300,000-line run): the slowest
GetRun was 19.5-96.0 ms with the four services in one session, 8.0-49.9 ms with each in a session
of its own and 11.6-38.3 ms with the gateway's session also at nice -10 (benchmarks/README.md).

So the embedded stack starts each service in a session of its own, and the gateway (-10) and the
runner (-5) ask for a lower nice: the API answers first, the runner streams next, Docker's logging
and the agents take the rest. Each one's demand is bounded (one interpreter, a few threads), so
neither can take the machine.

Even so a group's weight is spread over the CPUs by where its load has been, and the gateway's gRPC
I/O threads, waking for a moment on whichever CPU, got a sliver of it there: traced, they waited up
to 26 ms behind dockerd and the runner while the gateway's loop had a CPU. `scripts/tune_host.sh`
(run by the installer) turns autogroup scheduling off, so that each thread competes with its own
nice value (over twelve runs the slowest GetRun then 12.0-30.8 ms, the backlog's line p99 5.4-10.3 ms,
instead of 14.7-78.6 and 8.0-53.0 ms), and a service started while it is on says so (`scheduling_note`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mleredux.errors import MleReduxError

#: Where the kernel shows (and takes) a process's scheduling group and that group's nice value.
AUTOGROUP = Path("/proc/self/autogroup")
#: The kernel's switch for autogroup scheduling (1 on, 0 off); absent where the kernel has none.
AUTOGROUP_SCHEDULING = Path("/proc/sys/kernel/sched_autogroup_enabled")


#: The GIL hand-over interval in the gateway's and the runner's processes. Their threads (the
#: gateway's event writer and reads; the runner's uploads, disk mounts and gRPC poller) hold the GIL in
#: turns; the event loop releases it around every SQLite and socket call and, at Python's default of
#: 5 ms, may wait that long to get it back each time: a GetRun of a few such calls took 30-60 ms under
#: load, and a line read from Docker waited the same way before the runner could stamp and send it.
#: At 1 ms the loop gets it back five times sooner.
GIL_SWITCH_INTERVAL_SECONDS = 0.001


def hand_over_gil_sooner() -> None:
    """Sets this process's GIL switch interval to `GIL_SWITCH_INTERVAL_SECONDS`."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


class CpuPriorityError(MleReduxError):
    """The nice value could not be set: below 0 needs root or CAP_SYS_NICE (or a high RLIMIT_NICE)."""


def set_cpu_nice(nice: int) -> str:
    """Sets this process's nice value (its threads started from now on inherit it) and, when the
    process leads a session of its own, that session's scheduling-group nice too. A process in a
    session it does not lead (a shell's, say) keeps the group as it is: the value would apply to
    every process of the session. Returns what was set; raises CpuPriorityError if not permitted
    and ValueError for a value outside -20..19."""
    if not -20 <= nice <= 19:
        raise ValueError(f"a nice value is between -20 and 19, not {nice}")
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError as exc:
        raise CpuPriorityError(f"cannot set nice {nice} ({exc.strerror}; below 0 needs CAP_SYS_NICE)") from None
    if os.getsid(0) != os.getpid() or not _has_own_group():
        return f"nice {nice}"
    try:
        AUTOGROUP.write_text(f"{nice}\n")
    except OSError as exc:
        raise CpuPriorityError(f"cannot set its scheduling group's nice to {nice} ({exc.strerror})") from None
    return f"nice {nice}, and its session's scheduling group too"


def _has_own_group() -> bool:
    """Whether this process is in a scheduling group of its own session. The kernel shows nothing
    for a process still in the root group (a container's processes that never started a session are),
    and that group's weight cannot be set."""
    try:
        return bool(AUTOGROUP.read_text().strip())
    except OSError:  # no autogroup scheduling in this kernel
        return False


def autogroup_scheduling() -> bool | None:
    """Whether the kernel schedules by session (autogroup scheduling on); None where it cannot (no
    such setting, or it cannot be read)."""
    try:
        return AUTOGROUP_SCHEDULING.read_text().strip() != "0"
    except OSError:
        return None


def scheduling_note() -> str | None:
    """What an operator should know about a CPU priority set while autogroup scheduling is on (None
    when it is off or absent): the priority then counts per session, and only in part for the
    service's short-lived I/O threads."""
    if not autogroup_scheduling():
        return None
    return (
        f"the kernel's autogroup scheduling is on ({AUTOGROUP_SCHEDULING} = 1): this priority counts for "
        "the service's session as a whole, spread over the CPUs by load, and its gRPC threads may wait "
        "behind other sessions on a busy machine; scripts/tune_host.sh turns it off "
        "(docs/operations.md, CPU priority)"
    )
