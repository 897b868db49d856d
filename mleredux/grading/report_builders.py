"""Building a `GradeReport`, for competitions and technique tasks alike: one place that knows which
fields a report starts with and which a score sets.

A report starts as `ungraded_report` (the submission found or not, both files hashed, nothing
scored); grading then either records why the submission is invalid (`invalid_reason`) or calls
`record_score`, which makes it valid and, for a competition, awards its medals.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mleredux.grading.medals import Medals, MedalThresholds
from mleredux.grading.report import GradeReport
from mleredux.store import sha256_file


def ungraded_report(
    competition_id: str,
    submission: Path | None,
    answers: Path,
    *,
    thresholds: MedalThresholds | None = None,
    is_lower_better: bool = False,
    compute_profile: Mapping[str, Any] | None = None,
    technique_task: str | None = None,
    hash_files: bool = True,
) -> GradeReport:
    """The report of `submission` (None or a missing file: no submission) before it is scored
    against `answers`. Technique tasks have no leaderboard: no `thresholds`, never a medal.
    Without `hash_files` the caller fills in both hashes (a grader that hashes while it reads)."""
    exists = submission is not None and submission.is_file()
    return GradeReport(
        competition_id=competition_id,
        score=None,
        gold_threshold=thresholds.gold if thresholds else None,
        silver_threshold=thresholds.silver if thresholds else None,
        bronze_threshold=thresholds.bronze if thresholds else None,
        median_threshold=thresholds.median if thresholds else None,
        any_medal=False,
        gold_medal=False,
        silver_medal=False,
        bronze_medal=False,
        above_median=False,
        submission_exists=exists,
        valid_submission=False,
        is_lower_better=is_lower_better,
        submission_path=str(submission) if submission is not None else None,
        submission_sha256=sha256_file(submission) if hash_files and submission is not None and exists else None,
        answers_sha256=sha256_file(answers) if hash_files else None,
        compute_profile=dict(compute_profile or {}),
        technique_task=technique_task,
    )


def record_score(report: GradeReport, score: float, medals: Medals | None = None) -> None:
    """The submission was valid and scored `score`; `medals` are a competition's, by its leaderboard."""
    report.score = score
    report.valid_submission = True
    if medals is not None:
        report.gold_medal, report.silver_medal, report.bronze_medal = medals.gold, medals.silver, medals.bronze
        report.any_medal = medals.any
        report.above_median = medals.above_median
