"""How a run ends once its grading is known: the grader's report (or its failure) → terminal state,
failure reason and the one-line message users see.

Pure functions of their inputs, so every branch is tested without a service (tests/test_outcome.py).
"""

from __future__ import annotations

from typing import NamedTuple

from mleredux.v1 import common_pb2

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason


class Outcome(NamedTuple):
    """A run's terminal state, its failure reason (0 when it succeeded) and its message."""

    state: int
    reason: int
    message: str


def graded_outcome(report: common_pb2.GradeReport, verdict: common_pb2.StatusChange, task: str = "") -> Outcome:
    """The end of a run whose files the grader judged. `verdict` is the runner's GRADING status: its
    agent exit code, when non-zero, explains a missing submission. `task` names the technique task if
    the run is one: then the analysis JSON is what had to be written."""
    exit_code = verdict.exit_code
    exited = verdict.HasField("exit_code") and exit_code != 0
    if not report.submission_exists:
        if task:
            written = f"the agent wrote no /home/submission/{task}_analysis.json"
            message = written + (f" and exited with code {exit_code}" if exited else "")
        elif exited:
            message = f"the agent exited with code {exit_code} and wrote no submission"
        else:
            message = "the agent wrote no /home/submission/submission.csv"
        reason = FailureReason.FAILURE_REASON_AGENT_ERROR if exited else FailureReason.FAILURE_REASON_NO_SUBMISSION
        return Outcome(RunState.RUN_STATE_FAILED, reason, message)
    if not report.valid_submission:
        what = "analysis" if task else "submission"
        return Outcome(
            RunState.RUN_STATE_FAILED,
            FailureReason.FAILURE_REASON_INVALID_SUBMISSION,
            f"invalid {what}: {report.invalid_reason}",
        )
    if task:
        return Outcome(RunState.RUN_STATE_SUCCEEDED, 0, f"graded: {task} analysis score {report.score:.4g}")
    return Outcome(RunState.RUN_STATE_SUCCEEDED, 0, f"graded: score {report.score:.6g}")


def grading_failed(detail: str) -> Outcome:
    """The end of a run the grader could not grade (unreachable, timed out, refused): `detail` says why."""
    return Outcome(RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_GRADER_ERROR, f"grading failed: {detail}")
