"""The gateway's Prometheus metrics (served by `serve --metrics-listen`; see docs/operations.md)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mleredux.v1 import common_pb2

QUEUE_WAIT_SECONDS = Histogram(
    "mleredux_gateway_queue_wait_seconds",
    "Time a run waited for a runner (fair share, quotas, capacity)",
    buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400),
)
EVENT_LAG_SECONDS = Histogram(
    "mleredux_gateway_event_lag_seconds",
    "From the moment the runner captured an event (an agent's line, say) to the gateway holding it for clients",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
RUNS_FINISHED = Counter("mleredux_gateway_runs_finished", "Runs that ended, by final state", ["state"])
GRADING_SECONDS = Histogram(
    "mleredux_gateway_grading_seconds",
    "Time from a run's GRADING to its report, as the gateway saw it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class RunsByState(Collector):
    """`mleredux_gateway_runs{state}` read at scrape time, on a connection of its own (scrapes come
    from the metrics server's thread, never the event loop's)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("mleredux_gateway_runs", "Runs in the database, by state", labels=["state"])
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=5)) as db:
            counts = dict(db.execute("SELECT state, COUNT(*) FROM runs GROUP BY state").fetchall())
        for name, value in common_pb2.RunState.items():
            if value:
                family.add_metric([name.removeprefix("RUN_STATE_")], counts.get(value, 0))
        yield family


def register_gateway_metrics(db_path: Path, queue_depth: Callable[[], int]) -> None:
    """Adds what is read at scrape time: runs by state and the queue's depth."""
    REGISTRY.register(RunsByState(db_path))
    depth = Gauge("mleredux_gateway_queue_depth", "Runs waiting for a runner")

    def read() -> float:
        try:
            return float(queue_depth())
        except RuntimeError:  # the queue changed under the scrape thread: report it next time
            return float("nan")

    depth.set_function(read)
