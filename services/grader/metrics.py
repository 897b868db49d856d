"""The grader's Prometheus metrics (served by `serve --metrics-listen`; see docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Histogram

GRADING_SECONDS = Histogram(
    "mleredux_grader_call_seconds",
    "Time to answer a grading or validation call, by RPC and outcome",
    ["rpc", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
