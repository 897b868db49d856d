"""Per-run bounds the runner enforces on what an agent makes it spend, and the ceilings on what a
request may ask for. Every bound has a default here and is documented in docs/limits.md."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mleredux.ceilings import Ceilings as BaseCeilings
from mleredux.errors import InvalidArgumentError

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class RunLimits:
    """What one run may make the runner spend; past a cap the run goes on and one warning says so."""

    #: Rollout events taken from rollout.jsonl per run; later lines are read and dropped.
    max_rollout_events: int = 10_000
    #: Bytes of rollout lines taken per run (one line is at most 8 MiB, see rollout.py).
    max_rollout_bytes: int = 64 * MIB
    #: Log lines (stdout + stderr) turned into events per run.
    max_output_lines: int = 200_000
    #: Bytes of log text turned into events per run.
    max_output_bytes: int = 64 * MIB
    #: Files uploaded per run (the rest are skipped with one warning).
    max_artifact_files: int = 10_000
    #: Bytes uploaded per run.
    max_artifact_bytes: int = 2 * GIB
    #: The run's writable disk (/home/submission, /home/code, /home/logs, /tmp) when the request sets none.
    default_disk_bytes: int = 4 * GIB
    #: Docker's own json-file log of a container: its size per file and how many files it keeps.
    docker_log_max_bytes: int = 64 * MIB
    docker_log_max_files: int = 2

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RunLimits:
        """The defaults, each overridable by `MLEREDUX_RUNNER_<FIELD>` (e.g. MLEREDUX_RUNNER_MAX_OUTPUT_LINES)."""
        return cls(**_overrides(cls, os.environ if environ is None else environ))


def _overrides(kind: type, environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in fields(kind):
        text = environ.get(f"MLEREDUX_RUNNER_{item.name.upper()}")
        if text is not None:
            try:
                values[item.name] = float(text) if item.type in ("float", float) else int(text)
            except ValueError as exc:
                raise ValueError(f"MLEREDUX_RUNNER_{item.name.upper()}={text!r} is not a number") from exc
    return values


class Ceilings(BaseCeilings):
    """The most a request may ask for (defaults in `mleredux.ceilings`, shared with the gateway)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Ceilings:
        """The defaults, each overridable by `MLEREDUX_RUNNER_<FIELD>` (e.g. MLEREDUX_RUNNER_PIDS_LIMIT)."""
        return cls(**_overrides(cls, os.environ if environ is None else environ))


def check_ceilings(resolved: Mapping[str, float], ceilings: Ceilings) -> None:
    """Refuses a resolved compute profile with a negative value or one above its ceiling, naming both."""
    for name, value in resolved.items():
        ceiling = getattr(ceilings, name)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(f"compute.{name} must be a non-negative number, not {value}")
        if value > ceiling:
            raise InvalidArgumentError(
                f"compute.{name} = {value:g} is above this runner's ceiling of {ceiling:g} "
                f"(RunnerSettings.ceilings.{name})"
            )


def check_env(env: Mapping[str, str], ceilings: Ceilings) -> None:
    size = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items())
    if size > ceilings.env_bytes:
        raise InvalidArgumentError(
            f"env holds {size} bytes, above this runner's ceiling of {ceilings.env_bytes} "
            "(RunnerSettings.ceilings.env_bytes)"
        )
