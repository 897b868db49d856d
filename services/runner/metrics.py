"""The runner's Prometheus metrics (served by `serve --metrics-listen`; see docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Counter

from mleredux.v1 import common_pb2

CONTAINER_STARTS = Counter("mleredux_runner_container_starts", "Agent containers started (or reattached)")
RUN_ENDINGS = Counter(
    "mleredux_runner_run_endings", "Runs the runner ended, by state and failure reason", ["state", "reason"]
)
STORE_RETRIES = Counter("mleredux_runner_store_retries", "Artifact uploads that failed and wait to be retried")


def count_status(change: common_pb2.StatusChange) -> None:
    """Counts a status change the runner emits for a run."""
    if change.state == common_pb2.RunState.RUN_STATE_RUNNING:
        CONTAINER_STARTS.inc()
    elif change.state != common_pb2.RunState.RUN_STATE_PREPARING:
        RUN_ENDINGS.labels(
            state=common_pb2.RunState.Name(change.state).removeprefix("RUN_STATE_"),
            reason=common_pb2.FailureReason.Name(change.reason).removeprefix("FAILURE_REASON_"),
        ).inc()
