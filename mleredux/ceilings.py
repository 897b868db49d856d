"""The hard ceilings on what a run's request may ask for (compute, env, instructions).

One definition with its defaults: the runner enforces them at ExecuteRun (`RunnerSettings.ceilings`), and
the gateway refuses a request above them already at CreateRun (`GatewaySettings.ceilings`), so a run that
no runner would take is never queued, stored or scheduled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mleredux.errors import InvalidArgumentError

MIB = 1 << 20
GIB = 1 << 30

#: The ComputeProfile fields a ceiling bounds.
COMPUTE_FIELDS = ("cpus", "memory_bytes", "gpus", "time_limit_seconds", "pids_limit", "shm_bytes", "disk_bytes")


@dataclass(frozen=True)
class Ceilings:
    """The most a request may ask for; above it the request is refused with INVALID_ARGUMENT."""

    cpus: float = 64.0
    memory_bytes: int = 256 * GIB
    gpus: int = 8
    time_limit_seconds: int = 7 * 24 * 3600
    pids_limit: int = 32_768
    shm_bytes: int = 64 * GIB
    disk_bytes: int = 1024 * GIB
    #: The run's environment variables, names and values together.
    env_bytes: int = 256 * 1024
    #: The agent's instructions text.
    instructions_bytes: int = 1 * MIB


def _shown(value: float) -> str:
    """Whole numbers in full (2^62 s reads as 4611686018427387904, not 4.61169e+18)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def env_size(env: Mapping[str, str]) -> int:
    """The bytes an env takes as the ceiling counts them (each name and value, plus `=` and a NUL)."""
    return sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items())


def check_requested(compute: Mapping[str, float], env: Mapping[str, str], ceilings: Ceilings, setting: str) -> None:
    """Refuses a requested compute value (0 = the runner's default) or env above its ceiling.

    `setting` names where the ceiling is configured (e.g. `GatewaySettings.ceilings`), for the message.
    """
    for name, value in compute.items():
        ceiling = getattr(ceilings, name)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(f"compute.{name} must be a non-negative number, not {value}")
        if value > ceiling:
            raise InvalidArgumentError(
                f"compute.{name} = {_shown(value)} is above the ceiling of {_shown(ceiling)} ({setting}.{name})"
            )
    size = env_size(env)
    if size > ceilings.env_bytes:
        raise InvalidArgumentError(
            f"env holds {size} bytes, above the ceiling of {ceilings.env_bytes} ({setting}.env_bytes)"
        )
