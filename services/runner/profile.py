"""The effective compute profile of a run: what it asked for, the runner's defaults filled in.

A run that leaves a limit at 0 ("the runner's default") still runs with a real limit; reports, the
run's status changes and `GetRun` must show that limit, never the 0, or a score could not be compared
with another earned on other hardware. The profile is made here once, when the runner accepts a run,
and travels with the run's RUNNING status change to the gateway and from there into its report.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

from mleredux.v1 import common_pb2

#: Fields a request may leave at 0 to take the runner's default. `gpus` is not one: 0 means none.
_DEFAULTED = ("cpus", "memory_bytes", "time_limit_seconds", "pids_limit", "shm_bytes", "disk_bytes")
#: nvidia-smi answers in well under a second where it works; a hung driver must not hold a run.
_GPU_QUERY_SECONDS = 5.0


def effective_profile(
    requested: common_pb2.ComputeProfile, defaults: common_pb2.ComputeProfile
) -> common_pb2.ComputeProfile:
    """`requested` with each unset limit taken from `defaults` and, with GPUs, their model."""
    profile = common_pb2.ComputeProfile(gpus=requested.gpus)
    for name in _DEFAULTED:
        setattr(profile, name, getattr(requested, name) or getattr(defaults, name))
    if profile.gpus > 0:
        profile.gpu_model = defaults.gpu_model or host_gpu_model()
    return profile


@functools.cache
def host_gpu_model() -> str:
    """The model of this host's first GPU as nvidia-smi names it; empty when unknown."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return ""
    try:
        answer = subprocess.run(
            [binary, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=_GPU_QUERY_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    names = sorted({line.strip() for line in answer.stdout.splitlines() if line.strip()})
    return " + ".join(names) if answer.returncode == 0 else ""
