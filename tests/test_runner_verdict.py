"""The container's end → the run's verdict: every branch of the pure mapping, no container needed."""

from __future__ import annotations

from mleredux.v1 import common_pb2
from services.runner.backends.base import ContainerExit
from services.runner.verdict import Verdict, exit_verdict

RunState = common_pb2.RunState
Reason = common_pb2.FailureReason


def _verdict(exit_code: int = 0, oom: bool = False, cancel: str | None = None, timed_out: bool = False) -> Verdict:
    return exit_verdict(
        ContainerExit(exit_code=exit_code, oom_killed=oom),
        cancel_reason=cancel,
        timed_out=timed_out,
        time_limit_seconds=60,
        memory_bytes=1 << 20,
    )


def test_a_clean_or_failing_exit_goes_to_grading_with_its_code() -> None:
    for code in (0, 1, 137):
        verdict = _verdict(code)
        assert (verdict.state, verdict.reason, verdict.exit_code) == (RunState.RUN_STATE_GRADING, 0, code)
        assert verdict.message == f"container exited with code {code}"


def test_a_cancel_wins_over_a_timeout_and_the_exit() -> None:
    verdict = _verdict(137, oom=True, cancel="stop it", timed_out=True)
    assert (verdict.state, verdict.reason, verdict.message) == (
        RunState.RUN_STATE_CANCELLED,
        Reason.FAILURE_REASON_CANCELLED,
        "stop it",
    )


def test_a_timeout_names_the_limit() -> None:
    verdict = _verdict(137, timed_out=True)
    assert (verdict.state, verdict.reason) == (RunState.RUN_STATE_TIMED_OUT, Reason.FAILURE_REASON_TIME_LIMIT)
    assert "60s" in verdict.message


def test_out_of_memory_fails_only_when_the_agent_itself_died() -> None:
    killed = _verdict(137, oom=True)
    assert (killed.state, killed.reason) == (RunState.RUN_STATE_FAILED, Reason.FAILURE_REASON_OUT_OF_MEMORY)
    assert "1048576 byte limit" in killed.message
    survived = _verdict(0, oom=True)
    assert survived.state == RunState.RUN_STATE_GRADING
    assert "killed for exceeding the memory limit" in survived.message
