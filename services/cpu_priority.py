"""A service's share of a saturated CPU: its nice value, and its scheduling group's.

Linux with autogroup scheduling (the default on desktop and server kernels, on here) shares the CPU
between sessions first and between a session's processes second. The Docker daemon runs in a
session of its own, so when one agent prints as fast as it can, dockerd (logging each line) gets as
much CPU as every service of ours together, and a nice value set on the gateway alone only counts
against the runner and the clients in its session. Measured here (2 cores, a 300,000-line run): the
slowest GetRun was 19.5-96.0 ms with the four services in one session, 8.0-49.9 ms with each in
a session of its own and 11.6-38.3 ms with the gateway's session also at nice -10 (benchmarks/README.md).

So the embedded stack starts each service in a session of its own, and the gateway (-10) and the
runner (-5) ask for a lower nice: the API answers first, the runner streams next, Docker's logging
and the agents take the rest. Each one's demand is bounded (one interpreter, a few threads), so
neither can take the machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mleredux.errors import MleReduxError

#: Where the kernel shows (and takes) a process's scheduling group and that group's nice value.
AUTOGROUP = Path("/proc/self/autogroup")


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
