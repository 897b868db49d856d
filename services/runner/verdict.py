"""How the container part of a run ended: the mapping from a container's end to a run state.

Pure functions of what the runner observed, so every branch is tested without a container.
"""

from __future__ import annotations

from dataclasses import dataclass

from mleredux.v1 import common_pb2
from services.runner.backends.base import ContainerExit

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason


@dataclass(frozen=True)
class Verdict:
    """How the container part of a run ended."""

    state: int
    reason: int
    message: str
    exit_code: int | None = None


def exit_verdict(
    end: ContainerExit,
    *,
    cancel_reason: str | None,
    timed_out: bool,
    time_limit_seconds: int,
    memory_bytes: int,
) -> Verdict:
    """The verdict for a container that has ended: a cancel wins over a timeout, a timeout over the
    exit; otherwise the run goes on to grading, whatever the exit code."""
    if cancel_reason is not None:
        return Verdict(
            RunState.RUN_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, cancel_reason, end.exit_code
        )
    if timed_out:
        return Verdict(
            RunState.RUN_STATE_TIMED_OUT,
            FailureReason.FAILURE_REASON_TIME_LIMIT,
            f"time limit of {time_limit_seconds}s reached; container killed",
            end.exit_code,
        )
    if end.oom_killed and end.exit_code != 0:
        return Verdict(
            RunState.RUN_STATE_FAILED,
            FailureReason.FAILURE_REASON_OUT_OF_MEMORY,
            f"out of memory: the {memory_bytes} byte limit was hit and the agent was killed",
            end.exit_code,
        )
    # The container ended on its own: the gateway grades whatever submission it left. A child
    # process killed for memory does not fail a run whose agent carried on and exited cleanly.
    message = f"container exited with code {end.exit_code}"
    if end.oom_killed:
        message += " (a process in it was killed for exceeding the memory limit)"
    return Verdict(RunState.RUN_STATE_GRADING, 0, message, end.exit_code)
