"""Where the agent reads and writes, and how long it may take: the container contract's paths by
default, each overridable by an environment variable so the same code runs on a host in tests."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

#: The share of the run's time limit the agent plans to use; the rest covers reading, writing, validation.
BUDGET_SHARE = 0.6


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    submission_dir: Path
    code_dir: Path
    logs_dir: Path
    validate_script: Path
    competition_id: str
    task: str
    time_limit_secs: float
    started: float

    @property
    def submission_path(self) -> Path:
        return self.submission_dir / "submission.csv"

    @property
    def deadline(self) -> float:
        """Monotonic time by which modelling should be done."""
        return self.started + max(20.0, self.time_limit_secs * BUDGET_SHARE)

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


def _path(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default)


def from_env() -> Settings:
    try:
        limit = float(os.environ.get("TIME_LIMIT_SECS") or 3600)
    except ValueError:
        limit = 3600.0
    return Settings(
        data_dir=_path("DATA_DIR", "/home/data"),
        submission_dir=_path("SUBMISSION_DIR", "/home/submission"),
        code_dir=_path("CODE_DIR", "/home/code"),
        logs_dir=_path("LOGS_DIR", "/home/logs"),
        validate_script=_path("MLEREDUX_VALIDATE_SCRIPT", "/home/validate_submission.sh"),
        competition_id=os.environ.get("COMPETITION_ID", ""),
        task=os.environ.get("MLEREDUX_TASK", "").strip(),
        time_limit_secs=max(1.0, limit),
        started=time.monotonic(),
    )


def cpu_quota() -> int:
    """CPUs this process may use: the cgroup's quota (v2 or v1), else the affinity mask."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    quota: float | None = None
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            quota = int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        try:
            q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            if q > 0 and p > 0:
                quota = q / p
        except (OSError, ValueError):
            quota = None
    if quota is not None:
        available = min(available, max(1, round(quota)))
    return max(1, available)


def memory_limit() -> int:
    """Bytes this process may use: the cgroup's limit (v2 or v1) when lower than the machine's memory."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 4 << 30
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return min(physical, int(text))
    return int(physical)
