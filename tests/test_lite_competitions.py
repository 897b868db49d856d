"""Every Lite competition, from raw files in Kaggle's layout to a graded submission.

Each competition's raw generator lives in `tests/lite/`; the checks here are the same for all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mleredux.competitions import get_competition
from mleredux.grading.submission import grade_submission, read_answers, read_sample, validate_submission
from mleredux.preparation.prepare import PreparedDataset, prepare_competition, publish_dataset
from mleredux.preparation.published import fetch_published_dataset
from mleredux.store import S3Store, sha256_file
from tests.lite import LiteSpec, all_specs

SPECS = all_specs()


@pytest.fixture(scope="module", params=SPECS, ids=[s.competition_id for s in SPECS])
def prepared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    spec: LiteSpec = request.param
    raw = tmp_path_factory.mktemp("raw")
    spec.write_raw(raw, np.random.default_rng(42))
    data_dir = tmp_path_factory.mktemp("data")
    dataset = prepare_competition(spec.competition_id, data_dir, raw=raw)
    return spec, data_dir, dataset


@pytest.fixture(scope="module")
def s3_store(s3_endpoint: str) -> S3Store:
    store = S3Store("lite-datasets", s3_endpoint, access_key="k", secret_key="s")
    store.check()
    return store


def _frames(spec: LiteSpec, dataset: PreparedDataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    competition = get_competition(spec.competition_id)
    answers = read_answers(dataset.private_dir / competition.answers_file, competition)
    sample = read_sample(dataset.public_dir / competition.sample_submission_file, competition)
    return answers, sample


def _grade(frame: pd.DataFrame, spec: LiteSpec, data_dir: Path, name: str = "submission.csv"):  # type: ignore[no-untyped-def]
    path = data_dir / name
    frame.to_csv(path, index=False)
    return grade_submission(path, spec.competition_id, data_dir)


def test_public_has_the_mlebench_files_and_no_answers(prepared) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, dataset = prepared
    competition = get_competition(spec.competition_id)
    assert (dataset.public_dir / competition.sample_submission_file).is_file()
    assert (dataset.public_dir / "description.md").is_file()
    assert (dataset.private_dir / competition.answers_file).is_file()
    for file, column in spec.hidden:
        assert column not in pd.read_csv(dataset.public_dir / file, nrows=5).columns, (file, column)
    if spec.check_no_leak is not None:
        spec.check_no_leak(dataset.public_dir, dataset.private_dir)
    assert (data_dir / spec.competition_id / "leaderboard.csv").is_file()


def test_sample_submission_scores_the_constant_prediction(prepared) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, dataset = prepared
    answers, sample = _frames(spec, dataset)
    competition = get_competition(spec.competition_id)
    report = grade_submission(dataset.public_dir / competition.sample_submission_file, spec.competition_id, data_dir)
    assert report.valid_submission, report.invalid_reason
    assert report.score_unrounded == pytest.approx(spec.sample_score(answers, sample), abs=1e-9)
    assert report.score == round(report.score_unrounded, 5)
    assert report.is_lower_better == competition.info.is_lower_better


def test_perfect_submission_scores_the_best_in_any_row_and_column_order(prepared) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, dataset = prepared
    answers, sample = _frames(spec, dataset)
    perfect = spec.perfect(answers, sample)
    report = _grade(perfect, spec, data_dir)
    assert report.valid_submission, report.invalid_reason
    assert report.score_unrounded == pytest.approx(spec.best_score, abs=1e-9)
    assert report.score == round(spec.best_score, 5)
    shuffled = perfect.sample(frac=1.0, random_state=1)[list(reversed(perfect.columns))]
    assert _grade(shuffled, spec, data_dir).score == report.score


def test_row_order_never_changes_a_score(prepared) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, dataset = prepared
    answers, sample = _frames(spec, dataset)
    # A submission that is neither constant nor perfect: the sample with half its rows from the perfect one.
    perfect = spec.perfect(answers, sample).set_index(sample.columns[0])
    mixed = sample.set_index(sample.columns[0]).copy()
    half = mixed.index[: len(mixed) // 2]
    mixed.loc[half, perfect.columns] = perfect.loc[half, perfect.columns].to_numpy()
    mixed = mixed.reset_index()
    ordered = _grade(mixed, spec, data_dir).score
    shuffled = _grade(mixed.sample(frac=1.0, random_state=5), spec, data_dir).score
    assert ordered is not None and ordered == pytest.approx(shuffled, abs=1e-12)


def _mixed(spec: LiteSpec, dataset: PreparedDataset) -> pd.DataFrame:
    """A submission that is neither constant nor perfect: the sample with half its rows from the perfect one."""
    answers, sample = _frames(spec, dataset)
    perfect = spec.perfect(answers, sample).set_index(sample.columns[0])
    mixed = sample.set_index(sample.columns[0]).copy()
    half = mixed.index[: len(mixed) // 2]
    mixed.loc[half, perfect.columns] = perfect.loc[half, perfect.columns].to_numpy()
    return mixed.reset_index()


def _mlebench_rank(score: float, board: list[float]) -> dict[str, bool]:
    """MLE-bench's rule, written out for a board of 10 teams listed best first: positions 1, 2, 4."""
    rounded = round(score, 5)
    lower = board[0] < board[-1]
    reaches = (lambda t: rounded <= t) if lower else (lambda t: rounded >= t)
    gold = reaches(board[0])
    silver = not gold and reaches(board[1])
    bronze = not gold and not silver and reaches(board[3])
    median = float(np.median(board))
    return {
        "gold_medal": gold,
        "silver_medal": silver,
        "bronze_medal": bronze,
        "above_median": rounded < median if lower else rounded > median,
    }


def test_thresholds_exactly_at_the_score_rank_it_as_mlebench_does(prepared) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, dataset = prepared
    competition = get_competition(spec.competition_id)
    first = _grade(_mixed(spec, dataset), spec, data_dir)
    assert first.valid_submission and first.score_unrounded is not None, first.invalid_reason
    exact, rounded = first.score_unrounded, round(first.score_unrounded, 5)
    assert first.score == rounded
    step = 0.1 if competition.info.is_lower_better else -0.1  # a worse score
    boards = {
        # Gold is the rounded score itself: MLE-bench awards gold whichever way the rounding went.
        "gold at the score": [rounded] + [rounded + step * (i + 1) for i in range(9)],
        # The median is the rounded score: not above it (strict), even when the exact score is.
        "median at the score": [rounded - step * (4 - i) for i in range(4)] + [rounded] * 3 + [rounded + step] * 3,
    }
    leaderboard = data_dir / spec.competition_id / "leaderboard.csv"
    original = leaderboard.read_bytes()
    try:
        for name, board in boards.items():
            pd.DataFrame({"teamName": [f"t{i}" for i in range(10)], "score": board}).to_csv(leaderboard, index=False)
            report = _grade(_mixed(spec, dataset), spec, data_dir)
            assert (report.score, report.score_unrounded) == (rounded, exact), name
            got = {k: getattr(report, k) for k in ("gold_medal", "silver_medal", "bronze_medal", "above_median")}
            assert got == _mlebench_rank(exact, board), (name, exact, got)
            if name == "gold at the score":
                assert report.gold_threshold == rounded and report.gold_medal and report.any_medal
            else:
                assert report.median_threshold == rounded and not report.above_median and not report.any_medal
    finally:
        leaderboard.write_bytes(original)


@pytest.mark.parametrize(
    "kind,mutate,reason",
    [
        ("missing ids", lambda f, idc: f.iloc[2:], "ids are missing"),
        ("duplicate ids", lambda f, idc: pd.concat([f, f.iloc[:3]]), "3 ids appear more than once"),
        ("extra ids", lambda f, idc: pd.concat([f, f.iloc[:1].assign(**{idc: "no-such-id"})]), "not in the test set"),
        ("missing column", lambda f, idc: f.drop(columns=[f.columns[-1]]), "missing columns"),
        ("extra column", lambda f, idc: f.assign(extra_column=1), "unexpected columns: ['extra_column']"),
        ("NaN", lambda f, idc: f.assign(**{f.columns[-1]: f[f.columns[-1]].where(f.index > 1)}), "empty or NaN"),
    ],
)
def test_malformed_submissions_are_rejected_with_their_reason(prepared, kind, mutate, reason) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, dataset = prepared
    _, sample = _frames(spec, dataset)
    id_column = get_competition(spec.competition_id).id_column
    bad = mutate(sample.reset_index(drop=True), id_column)
    report = _grade(bad, spec, data_dir)
    assert not report.valid_submission and report.score is None, kind
    assert reason in (report.invalid_reason or ""), (kind, report.invalid_reason)
    result = validate_submission((data_dir / "submission.csv").read_bytes(), spec.competition_id, data_dir)
    assert not result.valid and reason in result.message


def test_metric_specific_checks(prepared) -> None:  # type: ignore[no-untyped-def]
    spec, data_dir, _ = prepared
    for check in spec.extra_checks:
        check(data_dir)


def test_published_to_s3_and_fetched_back_verified_without_answers(prepared, s3_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, _, dataset = prepared
    prefix = publish_dataset(dataset, s3_store)
    assert prefix == f"datasets/{spec.competition_id}/{dataset.content_hash}/"
    assert not [o.key for o in s3_store.list(prefix) if o.key[len(prefix) :].startswith("private/")]
    fetched = fetch_published_dataset(s3_store, prefix, tmp_path / "public")
    got = {p.relative_to(fetched).as_posix(): sha256_file(p) for p in fetched.rglob("*") if p.is_file()}
    want = {f.path.removeprefix("public/"): f.sha256 for f in dataset.public_files}
    assert got == want


def test_grade_sample_command_prints_the_constant_prediction_score(prepared, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mleredux.cli import main

    spec, data_dir, dataset = prepared
    answers, sample = _frames(spec, dataset)
    path = dataset.public_dir / get_competition(spec.competition_id).sample_submission_file
    code = main(["--home", str(tmp_path), "grade-sample", str(path), spec.competition_id, "--data-dir", str(data_dir)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["valid_submission"] and report["competition_id"] == spec.competition_id
    assert report["score_unrounded"] == pytest.approx(spec.sample_score(answers, sample), abs=1e-9)
    assert report["score"] == round(report["score_unrounded"], 5)
