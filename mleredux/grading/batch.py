"""Grading many submissions at once, as MLE-bench's `grade` does: a JSONL of (competition, file) pairs.

Each line is `{"competition_id": ..., "submission_path": ...}`. A line whose competition is unknown
or not prepared is reported as an error for that line, never a crash of the batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mleredux.errors import InvalidArgumentError, MleReduxError
from mleredux.grading.report import GradeReport
from mleredux.grading.submission import grade_submission


@dataclass(frozen=True)
class SubmissionEntry:
    """One line of a submissions JSONL."""

    line: int
    competition_id: str
    submission_path: Path


def read_submissions(path: Path) -> list[SubmissionEntry]:
    """Parse the JSONL, naming the line of any malformed entry."""
    if not path.is_file():
        raise InvalidArgumentError(f"submissions file not found: {path}")
    entries = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if not text.strip():
            continue
        try:
            body = json.loads(text)
            competition_id, submission = body["competition_id"], body["submission_path"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentError(
                f'{path}:{number}: expected {{"competition_id": ..., "submission_path": ...}} ({exc})'
            ) from None
        submission_path = Path(submission)
        if not submission_path.is_absolute():
            submission_path = path.parent / submission_path
        entries.append(SubmissionEntry(number, str(competition_id), submission_path))
    return entries


def aggregate_reports(reports: Iterable[GradeReport]) -> dict[str, Any]:
    """MLE-bench's summary keys, then every report."""
    items = list(reports)
    gold = sum(r.gold_medal for r in items)
    silver = sum(r.silver_medal for r in items)
    bronze = sum(r.bronze_medal for r in items)
    return {
        "total_runs": len(items),
        "total_runs_with_submissions": sum(r.submission_exists for r in items),
        "total_valid_submissions": sum(r.valid_submission for r in items),
        "total_medals": gold + silver + bronze,
        "total_gold_medals": gold,
        "total_silver_medals": silver,
        "total_bronze_medals": bronze,
        "total_above_median": sum(r.above_median for r in items),
        "competition_reports": [r.to_dict() for r in items],
    }


def grade_jsonl(path: Path, data_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """Grade every entry; returns the aggregate and one error message per entry that could not be graded."""
    reports: list[GradeReport] = []
    errors: list[str] = []
    for entry in read_submissions(path):
        try:
            report = grade_submission(entry.submission_path, entry.competition_id, data_dir)
        except MleReduxError as exc:
            errors.append(f"line {entry.line} ({entry.competition_id}): {exc}")
            continue
        report.submission_path = str(entry.submission_path)
        reports.append(report)
    return aggregate_reports(reports), errors


def write_batch_report(summary: dict[str, Any], output_dir: Path) -> Path:
    """`<output-dir>/<timestamp>_grading_report.json`, as MLE-bench names it."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S-%Z")
    target = output_dir / f"{stamp}_grading_report.json"
    target.write_text(json.dumps(summary, indent=2) + "\n")
    return target
