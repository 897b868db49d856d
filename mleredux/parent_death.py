"""A child process that ends with the process that started it, however that one ends (kill -9 too)."""

from __future__ import annotations

import ctypes
import signal


def die_with_parent() -> None:
    """Asks the kernel to send this process SIGTERM when its parent exits (Linux's PR_SET_PDEATHSIG).
    A parent that is already gone sends nothing: a caller that must know compares its parent's pid
    after the call. Where libc cannot be loaded, nothing is asked."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass
