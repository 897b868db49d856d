"""Grading a submission against the answers, and format-only validation against the public sample.

Rows are matched by id and columns by name, never by position. Everything wrong with a submission
raises `InvalidSubmissionError` with a message that names the problem; anything else that goes wrong
while scoring is the grader's fault and raises `GraderError`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mleredux.competitions import Competition, get_competition
from mleredux.errors import CompetitionNotSupportedError, GraderError, InvalidSubmissionError, NotPreparedError
from mleredux.store import sha256_file
from services.grader.medals import medal_thresholds, medals_for
from services.grader.report import GradeReport

#: How many offending ids a message names before it only counts them.
SHOWN_IDS = 5


@dataclass(frozen=True)
class ValidationResult:
    """The answer of a format check: never a score, never text derived from the answers."""

    valid: bool
    message: str


@dataclass(frozen=True)
class SubmissionFormat:
    """What a submission must look like: the id column, the expected ids and the target columns."""

    id_column: str
    ids: pd.Series
    columns: tuple[str, ...]
    numeric_columns: frozenset[str]


def _examples(values: Iterable[Any]) -> str:
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:SHOWN_IDS])
    return shown + (f", … ({len(items) - SHOWN_IDS} more)" if len(items) > SHOWN_IDS else "")


def _read_options(competition: Competition, id_column: str) -> dict[str, Any]:
    options: dict[str, Any] = dict(competition.read_csv_options)
    options["dtype"] = {**dict(options.get("dtype", {})), id_column: str}
    return options


def load_submission(source: Path | IO[bytes], competition: Competition) -> pd.DataFrame:
    """Read a submission CSV with ids as text; a file pandas cannot parse is an invalid submission."""
    try:
        frame = pd.read_csv(source, **_read_options(competition, competition.id_column))
    except pd.errors.EmptyDataError:
        raise InvalidSubmissionError("the submission is empty (no header and no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidSubmissionError(f"the submission is not a readable CSV: {exc}".strip()) from None
    return frame


def read_answers(path: Path, competition: Competition) -> pd.DataFrame:
    """The answers (or the public sample), ids as text, read the way submissions are read."""
    return pd.read_csv(path, **_read_options(competition, competition.answers_id_column or competition.id_column))


def read_sample(path: Path, competition: Competition) -> pd.DataFrame:
    return pd.read_csv(path, **_read_options(competition, competition.id_column))


def format_from(reference: pd.DataFrame, competition: Competition, ids: pd.Series | None = None) -> SubmissionFormat:
    """The expected format: columns from a reference table (the public sample, or the answers), and ids."""
    columns = competition.target_columns or tuple(c for c in reference.columns if c != competition.id_column)
    numeric = frozenset(c for c in columns if c in reference.columns and pd.api.types.is_numeric_dtype(reference[c]))
    expected_ids = ids if ids is not None else reference[competition.id_column]
    return SubmissionFormat(competition.id_column, expected_ids.reset_index(drop=True), tuple(columns), numeric)


def check_format(submission: pd.DataFrame, expected: SubmissionFormat) -> None:
    """Raise InvalidSubmissionError naming the first kind of problem found (ids, columns, values)."""
    id_column = expected.id_column
    columns = list(submission.columns)
    if id_column not in columns:
        raise InvalidSubmissionError(f"missing id column {id_column!r} (the submission has columns {columns})")
    duplicated_columns = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated_columns:
        raise InvalidSubmissionError(f"duplicate columns: {duplicated_columns}")
    missing_columns = [c for c in expected.columns if c not in columns]
    if missing_columns:
        raise InvalidSubmissionError(f"missing columns: {missing_columns} (expected {[id_column, *expected.columns]})")
    extra_columns = [c for c in columns if c != id_column and c not in expected.columns]
    if extra_columns:
        raise InvalidSubmissionError(f"unexpected columns: {extra_columns} (expected {[id_column, *expected.columns]})")

    ids = submission[id_column]
    if ids.isna().any():
        raise InvalidSubmissionError(f"{int(ids.isna().sum())} rows have an empty {id_column!r}")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InvalidSubmissionError(f"{len(duplicated)} ids appear more than once: {_examples(duplicated)}")
    wanted = pd.Index(expected.ids)
    present = pd.Index(ids)
    missing = wanted.difference(present, sort=False)
    if len(missing):
        raise InvalidSubmissionError(
            f"{len(missing)} of {len(wanted)} ids are missing from the submission: {_examples(missing)}"
        )
    extra = present.difference(wanted, sort=False)
    if len(extra):
        raise InvalidSubmissionError(f"{len(extra)} ids are not in the test set: {_examples(extra)}")

    for column in expected.columns:
        values = submission[column]
        if column in expected.numeric_columns and not pd.api.types.is_numeric_dtype(values):
            coerced = pd.to_numeric(values, errors="coerce")
            bad = values[coerced.isna() & values.notna()]
            if len(bad):
                raise InvalidSubmissionError(
                    f"column {column!r} must be numeric; {len(bad)} values are not, e.g. {_examples(bad.unique())}"
                )
        if values.isna().any():
            raise InvalidSubmissionError(f"column {column!r} has {int(values.isna().sum())} empty or NaN values")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            infinite = int(np.isinf(values.to_numpy(dtype=float)).sum())
            if infinite:
                raise InvalidSubmissionError(f"column {column!r} has {infinite} infinite values")


def _numeric(submission: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    # Numbers written as text ("3" in a column pandas read as object) are numbers once checked.
    out = submission.copy()
    for column in columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = pd.to_numeric(out[column])
    return out


def prepared_paths(competition: Competition, data_dir: Path) -> tuple[Path, Path, Path]:
    """(answers, public sample submission, leaderboard) of a prepared competition."""
    root = data_dir / competition.id
    return (
        root / "prepared" / "private" / competition.answers_file,
        root / "prepared" / "public" / competition.sample_submission_file,
        root / "leaderboard.csv",
    )


def _supported(competition_id: str) -> Competition:
    competition = get_competition(competition_id)
    if not competition.info.supported:
        raise CompetitionNotSupportedError(
            f"competition {competition_id!r} is listed but grading it is not supported yet"
        )
    return competition


def grade_submission(
    path: Path | None,
    competition_id: str,
    data_dir: Path,
    *,
    compute_profile: dict[str, Any] | None = None,
) -> GradeReport:
    """Grade the submission at `path` (None or a missing file: "no submission") against the prepared answers."""
    competition = _supported(competition_id)
    answers_path, sample_path, leaderboard_path = prepared_paths(competition, data_dir)
    if not answers_path.is_file():
        raise NotPreparedError(
            f"{competition_id} is not prepared in {data_dir}: {answers_path} is missing "
            f"(run `mleredux prepare -c {competition_id}`)"
        )
    if not leaderboard_path.is_file():
        raise NotPreparedError(f"{competition_id} has no leaderboard at {leaderboard_path}; medals cannot be computed")
    is_lower_better = competition.info.is_lower_better
    try:
        leaderboard = pd.read_csv(leaderboard_path)
        thresholds = medal_thresholds(leaderboard["score"].tolist(), is_lower_better=is_lower_better)
    except (KeyError, ValueError, pd.errors.ParserError) as exc:
        raise GraderError(f"the leaderboard {leaderboard_path} is unusable: {exc}") from exc

    report = GradeReport(
        competition_id=competition_id,
        score=None,
        gold_threshold=thresholds.gold,
        silver_threshold=thresholds.silver,
        bronze_threshold=thresholds.bronze,
        median_threshold=thresholds.median,
        any_medal=False,
        gold_medal=False,
        silver_medal=False,
        bronze_medal=False,
        above_median=False,
        submission_exists=path is not None and path.is_file(),
        valid_submission=False,
        is_lower_better=is_lower_better,
        submission_path=str(path) if path is not None else None,
        answers_sha256=sha256_file(answers_path),
        compute_profile=dict(compute_profile or {}),
    )
    if path is None or not path.is_file():
        return report
    report.submission_sha256 = sha256_file(path)
    try:
        answers = read_answers(answers_path, competition)
        answer_ids = answers[competition.answers_id_column or competition.id_column]
        reference = read_sample(sample_path, competition) if sample_path.is_file() else answers
        expected = format_from(reference, competition, ids=answer_ids)
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as exc:
        raise GraderError(f"the answers of {competition_id} at {answers_path} are unreadable: {exc}") from exc
    try:
        submission = load_submission(path, competition)
        check_format(submission, expected)
        submission = _numeric(submission, sorted(expected.numeric_columns))
        competition.check_values(submission)
    except InvalidSubmissionError as exc:
        report.invalid_reason = str(exc)
        return report
    aligned = submission.set_index(competition.id_column).loc[expected.ids].reset_index()
    try:
        score = float(competition.score(aligned, answers))
    except InvalidSubmissionError as exc:
        report.invalid_reason = str(exc)
        return report
    except Exception as exc:
        raise GraderError(f"the {competition_id} metric failed on a well-formed submission: {exc!r}") from exc
    if not math.isfinite(score):
        raise GraderError(f"the {competition_id} metric returned {score} on a well-formed submission")
    medals = medals_for(score, thresholds, is_lower_better=is_lower_better)
    report.score = score
    report.valid_submission = True
    report.gold_medal, report.silver_medal, report.bronze_medal = medals.gold, medals.silver, medals.bronze
    report.any_medal = medals.any
    report.above_median = medals.above_median
    return report


def validate_submission(content: bytes, competition_id: str, data_dir: Path) -> ValidationResult:
    """Check the format only, against the PUBLIC sample submission: ids, columns, dtypes, NaN."""
    competition = _supported(competition_id)
    _, sample_path, _ = prepared_paths(competition, data_dir)
    if not sample_path.is_file():
        raise NotPreparedError(f"{competition_id} is not prepared in {data_dir}: {sample_path} is missing")
    expected = format_from(read_sample(sample_path, competition), competition)
    try:
        submission = load_submission(io.BytesIO(content), competition)
        check_format(submission, expected)
        competition.check_values(_numeric(submission, sorted(expected.numeric_columns)))
    except InvalidSubmissionError as exc:
        return ValidationResult(valid=False, message=str(exc))
    return ValidationResult(
        valid=True,
        message=f"submission is valid: {len(submission)} rows, columns {[expected.id_column, *expected.columns]}",
    )
