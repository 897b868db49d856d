"""The report → run-state mapping of the gateway, branch by branch: what a user reads at a run's end."""

from __future__ import annotations

import pytest

from mleredux.v1 import common_pb2
from services.gateway.outcome import Outcome, graded_outcome, grading_failed

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason


def _verdict(exit_code: int | None) -> common_pb2.StatusChange:
    verdict = common_pb2.StatusChange(state=RunState.RUN_STATE_GRADING)
    if exit_code is not None:
        verdict.exit_code = exit_code
    return verdict


def _report(
    *, exists: bool = True, valid: bool = True, score: float | None = None, why: str = ""
) -> common_pb2.GradeReport:
    report = common_pb2.GradeReport(competition_id="demo-digits", submission_exists=exists, valid_submission=valid)
    if score is not None:
        report.score = score
    report.invalid_reason = why
    return report


@pytest.mark.parametrize("exit_code", [None, 0, 3])
def test_a_valid_submission_succeeds_with_its_score_whatever_the_exit_code(exit_code: int | None) -> None:
    outcome = graded_outcome(_report(score=0.123456789), _verdict(exit_code))
    assert outcome == Outcome(RunState.RUN_STATE_SUCCEEDED, 0, "graded: score 0.123457")


def test_a_valid_analysis_succeeds_with_the_tasks_score() -> None:
    outcome = graded_outcome(_report(score=0.8125), _verdict(0), task="cv")
    assert outcome == Outcome(RunState.RUN_STATE_SUCCEEDED, 0, "graded: cv analysis score 0.8125")


def test_an_invalid_submission_fails_with_the_graders_reason() -> None:
    outcome = graded_outcome(_report(valid=False, why="12 rows missing"), _verdict(0))
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_INVALID_SUBMISSION,
        "invalid submission: 12 rows missing",
    )


def test_an_invalid_analysis_says_analysis() -> None:
    outcome = graded_outcome(_report(valid=False, why="$.leaks: required"), _verdict(1), task="leakage")
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_INVALID_SUBMISSION,
        "invalid analysis: $.leaks: required",
    )


@pytest.mark.parametrize("exit_code", [None, 0])
def test_no_submission_from_an_agent_that_exited_cleanly_is_no_submission(exit_code: int | None) -> None:
    outcome = graded_outcome(_report(exists=False, valid=False), _verdict(exit_code))
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_NO_SUBMISSION,
        "the agent wrote no /home/submission/submission.csv",
    )


def test_no_submission_from_an_agent_that_failed_is_an_agent_error() -> None:
    outcome = graded_outcome(_report(exists=False, valid=False), _verdict(137))
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_AGENT_ERROR,
        "the agent exited with code 137 and wrote no submission",
    )


@pytest.mark.parametrize("exit_code", [None, 0])
def test_no_analysis_from_an_agent_that_exited_cleanly_names_the_file(exit_code: int | None) -> None:
    outcome = graded_outcome(_report(exists=False, valid=False), _verdict(exit_code), task="scaling")
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_NO_SUBMISSION,
        "the agent wrote no /home/submission/scaling_analysis.json",
    )


def test_no_analysis_from_an_agent_that_failed_is_an_agent_error_naming_file_and_code() -> None:
    outcome = graded_outcome(_report(exists=False, valid=False), _verdict(2), task="missing")
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_AGENT_ERROR,
        "the agent wrote no /home/submission/missing_analysis.json and exited with code 2",
    )


def test_a_missing_file_wins_over_the_valid_flag() -> None:
    # The grader never marks a missing file valid; if it did, the run still has nothing to score.
    outcome = graded_outcome(_report(exists=False, valid=True, score=1.0), _verdict(0))
    assert outcome.state == RunState.RUN_STATE_FAILED
    assert outcome.reason == FailureReason.FAILURE_REASON_NO_SUBMISSION


def test_a_grader_that_could_not_grade_is_a_grader_error() -> None:
    outcome = grading_failed("failed to connect to all addresses")
    assert outcome == Outcome(
        RunState.RUN_STATE_FAILED,
        FailureReason.FAILURE_REASON_GRADER_ERROR,
        "grading failed: failed to connect to all addresses",
    )


def test_every_failure_has_a_reason_and_success_has_none() -> None:
    cases = [
        graded_outcome(_report(score=0.5), _verdict(0)),
        graded_outcome(_report(valid=False, why="x"), _verdict(0)),
        graded_outcome(_report(exists=False, valid=False), _verdict(1), task="cv"),
        grading_failed("deadline exceeded"),
    ]
    for outcome in cases:
        assert (outcome.state == RunState.RUN_STATE_SUCCEEDED) == (outcome.reason == 0), outcome
