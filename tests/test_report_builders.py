"""Building a GradeReport: what an ungraded report holds, and what a score changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mleredux.grading.medals import Medals, MedalThresholds
from mleredux.grading.report_builders import record_score, ungraded_report

THRESHOLDS = MedalThresholds(gold=0.9, silver=0.8, bronze=0.7, median=0.5, teams=100)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    submission, answers = tmp_path / "submission.csv", tmp_path / "answers.csv"
    submission.write_text("id,y\n1,0\n")
    answers.write_text("id,y\n1,1\n")
    return submission, answers


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_present_submission_is_found_and_hashed_but_not_yet_valid(tmp_path: Path) -> None:
    submission, answers = _files(tmp_path)
    report = ungraded_report(
        "demo", submission, answers, thresholds=THRESHOLDS, is_lower_better=True, compute_profile={"cpus": 2.0}
    )
    assert report.submission_exists and not report.valid_submission and report.score is None
    assert report.submission_path == str(submission)
    assert (report.submission_sha256, report.answers_sha256) == (_sha(submission), _sha(answers))
    assert (report.gold_threshold, report.silver_threshold, report.bronze_threshold, report.median_threshold) == (
        0.9,
        0.8,
        0.7,
        0.5,
    )
    assert report.is_lower_better and report.compute_profile == {"cpus": 2.0}
    assert not (report.any_medal or report.gold_medal or report.silver_medal or report.bronze_medal)
    assert report.technique_task is None and report.invalid_reason is None


def test_a_missing_or_absent_submission_is_reported_as_such(tmp_path: Path) -> None:
    _, answers = _files(tmp_path)
    missing = ungraded_report("demo", tmp_path / "nope.csv", answers, thresholds=THRESHOLDS)
    assert not missing.submission_exists and missing.submission_sha256 is None
    assert missing.submission_path == str(tmp_path / "nope.csv")
    absent = ungraded_report("demo", None, answers)
    assert not absent.submission_exists and absent.submission_path is None and absent.submission_sha256 is None


def test_a_technique_tasks_report_has_no_thresholds(tmp_path: Path) -> None:
    analysis, truth = _files(tmp_path)
    report = ungraded_report("demo-digits", analysis, truth, technique_task="cv")
    assert report.technique_task == "cv" and not report.is_lower_better
    assert report.gold_threshold is None and report.median_threshold is None
    record_score(report, 0.75)
    assert report.valid_submission and report.score == 0.75 and not report.any_medal


def test_a_score_with_medals_awards_them(tmp_path: Path) -> None:
    submission, answers = _files(tmp_path)
    report = ungraded_report("demo", submission, answers, thresholds=THRESHOLDS)
    record_score(report, 0.85, Medals(gold=False, silver=True, bronze=False, above_median=True))
    assert report.valid_submission and report.score == 0.85
    assert (report.gold_medal, report.silver_medal, report.bronze_medal) == (False, True, False)
    assert report.any_medal and report.above_median


def test_the_compute_profile_is_copied_not_shared(tmp_path: Path) -> None:
    submission, answers = _files(tmp_path)
    profile = {"cpus": 1.0}
    report = ungraded_report("demo", submission, answers, compute_profile=profile)
    profile["cpus"] = 8.0
    assert report.compute_profile == {"cpus": 1.0}
