"""demo-digits prepared for real, and graded: the sample score, a perfect score, and each invalid kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mleredux.errors import GraderError, NotPreparedError, UnknownCompetitionError
from mleredux.grading.submission import grade_submission, validate_submission
from mleredux.preparation.prepare import PreparedDataset, prepare_competition


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreparedDataset]:
    data_dir = tmp_path_factory.mktemp("data")
    return data_dir, prepare_competition("demo-digits", data_dir)


@pytest.fixture
def answers(prepared: tuple[Path, PreparedDataset]) -> pd.DataFrame:
    return pd.read_csv(prepared[1].private_dir / "test.csv", dtype={"id": str})


def grade(frame: pd.DataFrame, prepared: tuple[Path, PreparedDataset], tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    return grade_submission(path, "demo-digits", prepared[0])


def test_sample_submission_scores_the_share_of_zeros(prepared, answers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = grade(pd.read_csv(prepared[1].public_dir / "sample_submission.csv"), prepared, tmp_path)
    assert report.valid_submission and report.submission_exists
    assert report.score_unrounded == pytest.approx((answers["label"] == 0).mean())
    assert report.score == round(float((answers["label"] == 0).mean()), 5)
    assert not report.any_medal and not report.above_median
    assert report.invalid_reason is None and len(report.answers_sha256 or "") == 64


def test_perfect_submission_wins_gold_whatever_the_row_and_column_order(prepared, answers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shuffled = answers.sample(frac=1.0, random_state=7)[["label", "id"]]
    report = grade(shuffled, prepared, tmp_path)
    assert report.score == 1.0 and report.gold_medal and report.any_medal and report.above_median
    assert not report.silver_medal and not report.bronze_medal


def test_row_order_does_not_change_the_score(prepared, answers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    guess = answers.assign(label=rng.integers(0, 10, len(answers)))
    ordered = grade(guess, prepared, tmp_path).score
    shuffled = grade(guess.sample(frac=1.0, random_state=3), prepared, tmp_path).score
    assert ordered == shuffled


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda f: f.rename(columns={"id": "ID"}), "missing id column 'id'"),
        (lambda f: f.drop(columns=["label"]), "missing columns: ['label']"),
        (lambda f: f.assign(extra=1), "unexpected columns: ['extra']"),
        (lambda f: pd.concat([f, f.head(2)]), "2 ids appear more than once"),
        (lambda f: f.iloc[3:], "3 of 360 ids are missing"),
        (lambda f: pd.concat([f, pd.DataFrame({"id": ["img_99999"], "label": [1]})]), "1 ids are not in the test set"),
        (lambda f: f.assign(label=f["label"].astype(float).where(f.index > 4)), "column 'label' has 5 empty or NaN"),
        (lambda f: f.assign(label=np.where(f.index == 0, "seven", f["label"].astype(str))), "must be numeric"),
        (lambda f: f.assign(label=np.where(f.index < 2, np.inf, f["label"])), "2 infinite values"),
    ],
)
def test_each_invalid_kind_names_its_problem(prepared, answers, tmp_path, mutate, reason) -> None:  # type: ignore[no-untyped-def]
    report = grade(mutate(answers.reset_index(drop=True)), prepared, tmp_path)
    assert not report.valid_submission and report.submission_exists and report.score is None
    assert reason in (report.invalid_reason or "")
    # The format check inside the container says the same, from the public sample alone.
    path = tmp_path / "submission.csv"
    result = validate_submission(path.read_bytes(), "demo-digits", prepared[0])
    assert not result.valid and reason in result.message


def test_unreadable_and_missing_submissions(prepared, tmp_path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in (grade_submission(empty, "demo-digits", prepared[0]).invalid_reason or "")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b'id,label\n"img_1,3\n')
    assert "not a readable CSV" in (grade_submission(garbage, "demo-digits", prepared[0]).invalid_reason or "")
    absent = grade_submission(tmp_path / "nope.csv", "demo-digits", prepared[0])
    assert not absent.submission_exists and not absent.valid_submission and absent.score is None
    assert absent.median_threshold is not None


def test_validation_never_reveals_a_score(prepared) -> None:  # type: ignore[no-untyped-def]
    sample = (prepared[1].public_dir / "sample_submission.csv").read_bytes()
    result = validate_submission(sample, "demo-digits", prepared[0])
    assert result.valid and "score" not in result.message and "0.1" not in result.message


def test_unknown_and_unprepared_competitions(tmp_path: Path) -> None:
    with pytest.raises(UnknownCompetitionError, match="demo-digits"):
        grade_submission(None, "demo-digts", tmp_path)
    with pytest.raises(NotPreparedError, match="mleredux prepare -c demo-digits"):
        grade_submission(None, "demo-digits", tmp_path)


def test_a_broken_leaderboard_is_a_grader_error(prepared, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    prepare_competition("demo-digits", data_dir)
    (data_dir / "demo-digits" / "leaderboard.csv").write_text("teamId,points\n1,2\n")
    with pytest.raises(GraderError, match="leaderboard"):
        grade_submission(None, "demo-digits", data_dir)
