"""The grade report: MLE-bench's `CompetitionReport` fields plus what makes a report trustworthy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Bumped whenever a metric, a format rule or the medal logic changes, so reports can be compared.
GRADER_VERSION = "0.1.0"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class GradeReport:
    """One graded submission. `score` and the thresholds are None when there is nothing to compare."""

    competition_id: str
    score: float | None
    gold_threshold: float | None
    silver_threshold: float | None
    bronze_threshold: float | None
    median_threshold: float | None
    any_medal: bool
    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool
    submission_exists: bool
    valid_submission: bool
    is_lower_better: bool
    created_at: str = field(default_factory=now_iso)
    submission_path: str | None = None
    #: Why the submission is invalid (names the ids, columns or values), None when valid or absent.
    invalid_reason: str | None = None
    grader_version: str = GRADER_VERSION
    submission_sha256: str | None = None
    answers_sha256: str | None = None
    #: The run's compute profile (cpus, memory_bytes, gpus, time_limit_seconds, ...), when known.
    compute_profile: dict[str, Any] = field(default_factory=dict)
    #: For a technique task's report: the task (`competition_id` is then the competition it was derived from).
    technique_task: str | None = None
    #: Per-item detail (technique tasks: each graded item, the submission's outcome); None for competitions.
    details: dict[str, Any] | None = None
    #: The metric's value before rounding; `score` is it at the leaderboard's precision (5 decimals),
    #: the value medals are ranked by, as in MLE-bench. None when there is no score.
    score_unrounded: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
