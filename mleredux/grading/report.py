"""The grade report: MLE-bench's `CompetitionReport` fields plus what makes a report trustworthy.

Every field of `GradeReport` is a field of the `mleredux.v1.GradeReport` message, and the report has
one JSON shape, `report_json`: what `mleredux grade` prints, a run's `report.json`, the CLI's report of
a run and the HTTP API's report are all written by it (`GradeReport.to_dict` is `report_json` of
`report_to_proto`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mleredux.proto_json import from_json, struct_from, to_json
from mleredux.v1 import common_pb2

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
        """The report's JSON shape (the one `report_json` writes)."""
        return report_json(report_to_proto(self))


#: Fields whose None is an unset proto field, and the scores among them.
_SCORES = ("score", "gold_threshold", "silver_threshold", "bronze_threshold", "median_threshold", "score_unrounded")
_OPTIONAL_TEXT = ("submission_path", "invalid_reason", "submission_sha256", "answers_sha256", "technique_task")


def report_to_proto(report: GradeReport) -> common_pb2.GradeReport:
    """The report as the contracts' message; nothing of the dataclass is dropped."""
    message = common_pb2.GradeReport(
        competition_id=report.competition_id,
        any_medal=report.any_medal,
        gold_medal=report.gold_medal,
        silver_medal=report.silver_medal,
        bronze_medal=report.bronze_medal,
        above_median=report.above_median,
        submission_exists=report.submission_exists,
        valid_submission=report.valid_submission,
        is_lower_better=report.is_lower_better,
        grader_version=report.grader_version,
    )
    for name in _SCORES:
        value = getattr(report, name)
        if value is not None:
            setattr(message, name, float(value))
    for name in _OPTIONAL_TEXT:
        value = getattr(report, name)
        if value is not None:
            setattr(message, name, str(value))
    if report.created_at:
        message.created_at.FromDatetime(datetime.fromisoformat(report.created_at))
    # Always present (all zero outside a run), so a report has one shape wherever it was graded.
    message.compute_profile.SetInParent()
    from_json(report.compute_profile or {}, message.compute_profile)
    if report.details is not None:
        # A metric can yield NaN; JSON has no NaN, and a report must still be written.
        message.details.CopyFrom(struct_from(report.details, non_finite_as_null=True))
    return message


def report_json(message: common_pb2.GradeReport) -> dict[str, Any]:
    """THE JSON shape of a report: MLE-bench's fields in MLE-bench's order, then ours; every field
    present, null when unset; integers as numbers."""
    return to_json(message)


def compute_profile_dict(profile: common_pb2.ComputeProfile) -> dict[str, Any]:
    """A compute profile as `GradeReport.compute_profile` holds it (the JSON shape)."""
    return to_json(profile)
