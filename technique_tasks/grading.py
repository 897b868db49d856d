"""Grading a technique task into a `GradeReport`, the report type competitions use.

The analysis JSON plays the submission's part: `submission_exists` and `valid_submission` say whether
it was there and followed the schema (`invalid_reason` names the JSON path that broke it), `score` is
the analysis score in [0, 1], and `details` holds every graded item and, when the task asks for one,
the CSV submission's outcome. No medals: the thresholds stay empty.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from mleredux.errors import InvalidAnalysisError, InvalidSubmissionError, NotPreparedError
from mleredux.grading.report import GradeReport
from mleredux.grading.report_builders import record_score, ungraded_report
from mleredux.grading.submission import SubmissionFormat, ValidationResult, check_format
from mleredux.store import sha256_file
from technique_tasks.base import ANSWERS, GROUND_TRUTH, get_task
from technique_tasks.outcome import SubmissionOutcome, score_submission
from technique_tasks.preparation import technique_prepared_dir


def _truth_path(task: str, competition_id: str, data_dir: Path) -> Path:
    path = technique_prepared_dir(task, competition_id, data_dir) / "private" / GROUND_TRUTH
    if not path.is_file():
        raise NotPreparedError(
            f"the {task} technique task is not prepared from {competition_id} in {data_dir}: {path} is missing"
        )
    return path


def grade_technique_task(
    task: str,
    competition_id: str,
    data_dir: Path,
    analysis_path: Path | None,
    submission_path: Path | None = None,
    *,
    compute_profile: dict[str, Any] | None = None,
) -> GradeReport:
    """Grade `<task>_analysis.json` at `analysis_path` (None or missing: no analysis) and the submission."""
    technique = get_task(task)
    truth_path = _truth_path(task, competition_id, data_dir)
    private = truth_path.parent
    report = ungraded_report(
        competition_id, analysis_path, truth_path, compute_profile=compute_profile, technique_task=task
    )
    truth = json.loads(truth_path.read_text())
    context = {"competition_id": competition_id, "seed": truth.get("seed")}
    analysis = None
    if analysis_path is not None and report.submission_exists:
        try:
            analysis = technique.load_analysis(analysis_path)
        except InvalidAnalysisError as exc:
            report.invalid_reason = str(exc)
    if analysis is None:
        # Nothing to grade; the submission, if asked for, is still scored so the report says how it did.
        outcome = (
            score_submission(submission_path, private / ANSWERS, truth["outcome_metric"], truth["classes"])
            if technique.asks_submission
            else SubmissionOutcome(asked=False)
        )
        report.details = {"task": task, **context, "analysis_score": None, "items": [], "submission": outcome.to_dict()}
        _submission_hash(report, submission_path)
        return report
    graded = technique.grade(analysis, submission_path, private)
    record_score(report, graded.score)
    report.details = {**graded.details(), **context}
    _submission_hash(report, submission_path)
    return report


def _submission_hash(report: GradeReport, submission_path: Path | None) -> None:
    if report.details is not None and submission_path is not None and submission_path.is_file():
        report.details["submission"]["sha256"] = sha256_file(submission_path)


def validate_technique_analysis(task: str, content: bytes) -> ValidationResult:
    """Format check only: does the analysis parse and follow the task's schema? Never a score."""
    technique = get_task(task)
    try:
        data = json.loads(content.decode("utf-8"))
        technique.validate(data, technique.analysis_file)
    except UnicodeDecodeError as exc:
        return ValidationResult(False, f"{technique.analysis_file} is not UTF-8 text: {exc}")
    except json.JSONDecodeError as exc:
        return ValidationResult(False, f"{technique.analysis_file} is not valid JSON: {exc}")
    except InvalidAnalysisError as exc:
        return ValidationResult(False, str(exc))
    return ValidationResult(True, f"{technique.analysis_file} follows {technique.schema_file}")


def validate_technique_upload(task: str, competition_id: str, data_dir: Path, content: bytes) -> ValidationResult:
    """What the grader socket answers inside a technique run: an analysis JSON is checked against the
    task's schema, a CSV against the derived dataset's public sample. Format only, never a score."""
    if content.lstrip()[:1] == b"{":
        return validate_technique_analysis(task, content)
    technique = get_task(task)
    sample_path = technique_prepared_dir(task, competition_id, data_dir) / "public" / "sample_submission.csv"
    if not sample_path.is_file():
        return ValidationResult(
            False,
            f"the {task} task asks for no submission CSV here; validate {technique.analysis_file} instead",
        )
    sample = pd.read_csv(sample_path, dtype={0: str}, nrows=None)
    id_column = str(sample.columns[0])
    sample[id_column] = sample[id_column].astype(str)
    columns = tuple(str(c) for c in sample.columns[1:])
    expected = SubmissionFormat(
        id_column=id_column,
        ids=sample[id_column],
        columns=columns,
        numeric_columns=frozenset(c for c in columns if pd.api.types.is_numeric_dtype(sample[c])),
    )
    try:
        submission = pd.read_csv(io.BytesIO(content), dtype={id_column: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        return ValidationResult(False, f"the submission is not a readable CSV: {exc}")
    try:
        check_format(submission, expected)
    except InvalidSubmissionError as exc:
        return ValidationResult(False, str(exc))
    return ValidationResult(True, f"submission is valid: {len(submission)} rows, columns {[id_column, *columns]}")
