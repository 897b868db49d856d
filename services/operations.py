"""What operators see of a service: Prometheus metrics on a port of their choosing, and a health
status that follows the service's dependencies.

`serve()` starts both when asked. A dependency check is a coroutine answering None when the
dependency is usable and a short reason otherwise; while any check fails the service's gRPC health
status is NOT_SERVING (load balancers and `grpc_health_probe` stop sending it work), and it goes back
to SERVING by itself once every check passes again. Each service defines its metrics in its own
`metrics.py`; what every service counts alike (tenant-limit hits) lives here.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from services.cpu_priority import autogroup_scheduling

T = TypeVar("T")

#: Answers None when the dependency is usable, else why not (one line).
DependencyCheck = Callable[[], Awaitable[str | None]]

#: Every bound a tenant hit, by the limit's name (e.g. "output_lines", "validation_connections").
TENANT_LIMIT_HITS = Counter(
    "mleredux_tenant_limit_hits", "Times a run or a user hit one of its bounds, by limit", ["limit"]
)


EVENT_LOOP_LAG_SECONDS = Histogram(
    "mleredux_event_loop_lag_seconds",
    "How late a 10 ms timer on the service's event loop fired: how long something held the loop",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
EVENT_LOOP_LAG_MAX_SECONDS = Gauge(
    "mleredux_event_loop_lag_max_seconds", "The largest event-loop lag seen since the service started"
)
#: The CPU priority a service runs at, and whether the host lets it count per thread (docs/operations.md,
#: "CPU priority"): a slow API on a busy host is explained, or ruled out, at a glance.
CPU_NICE = Gauge("mleredux_cpu_nice", "The service's nice value: the lower, the sooner it runs on a busy CPU")
CPU_NICE.set_function(lambda: os.getpriority(os.PRIO_PROCESS, 0))
HOST_AUTOGROUP_SCHEDULING = Gauge(
    "mleredux_host_autogroup_scheduling",
    "1 while the kernel's autogroup scheduling is on (a CPU priority then counts per session), 0 off, -1 unknown",
)
HOST_AUTOGROUP_SCHEDULING.set_function(lambda: {True: 1, False: 0, None: -1}[autogroup_scheduling()])
#: How often the probe looks at the loop.
LOOP_PROBE_SECONDS = 0.01


async def probe_event_loop() -> None:
    """Sleeps `LOOP_PROBE_SECONDS` again and again and records how late each wake-up came: a
    synchronous call that holds the loop shows up here, whoever made it, and so does a loop whose
    thread waited for a CPU or the GIL. `serve()` runs it in every service."""
    loop = asyncio.get_running_loop()
    if loop.get_debug():  # PYTHONASYNCIODEBUG=1: asyncio names every callback that holds the loop this long
        loop.slow_callback_duration = 2 * LOOP_PROBE_SECONDS
    worst = 0.0
    while True:
        before = loop.time()
        await asyncio.sleep(LOOP_PROBE_SECONDS)
        lag = max(loop.time() - before - LOOP_PROBE_SECONDS, 0.0)
        EVENT_LOOP_LAG_SECONDS.observe(lag)
        if lag > worst:
            worst = lag
            EVENT_LOOP_LAG_MAX_SECONDS.set(lag)


def start_metrics(listen: str) -> str:
    """Serves /metrics on HOST:PORT (port 0 picks one) from a daemon thread; returns HOST:PORT."""
    host, _, port_text = listen.rpartition(":")
    server, _thread = start_http_server(int(port_text), addr=host or "127.0.0.1")
    bound_port = server.server_address[1]
    return f"{host or '127.0.0.1'}:{bound_port}"


async def follow_dependencies(
    checks: Sequence[tuple[str, DependencyCheck]],
    health: health_aio.HealthServicer,
    service_names: Sequence[str],
    *,
    interval_seconds: float = 5.0,
    timeout_seconds: float = 5.0,
) -> None:
    """Runs every check each `interval_seconds` and sets the health status from the results."""
    failing: dict[str, str] = {}
    while True:
        now_failing: dict[str, str] = {}
        for name, check in checks:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when the
                # check finishes just as the task is cancelled, so the cancel was lost and a service
                # SIGTERMed right after it started waited on this loop for good.
                async with asyncio.timeout(timeout_seconds):
                    reason = await check()
            except TimeoutError:
                reason = f"no answer within {timeout_seconds:g}s"
            except Exception as exc:  # a check that breaks is a dependency that is down
                reason = f"{type(exc).__name__}: {exc}"
            if reason is not None:
                now_failing[name] = reason
        if now_failing != failing:
            status = (
                health_pb2.HealthCheckResponse.NOT_SERVING if now_failing else health_pb2.HealthCheckResponse.SERVING
            )
            for service in ["", *service_names]:
                await health.set(service, status)
            if now_failing:
                down = "; ".join(f"{n}: {r}" for n, r in now_failing.items())
                print(f"health: NOT_SERVING ({down})", file=sys.stderr, flush=True)
            else:
                print("health: SERVING (every dependency is back)", file=sys.stderr, flush=True)
            failing = now_failing
        await asyncio.sleep(interval_seconds)


def store_check(store: object) -> DependencyCheck:
    """The artifact store answers (`ArtifactStore.check`, in a worker thread: S3 calls block)."""

    async def check() -> str | None:
        from mleredux.errors import StoreError

        try:
            await asyncio.to_thread(store.check)  # type: ignore[attr-defined]
        except StoreError as exc:
            return str(exc)
        return None

    return check


def grpc_health_check(channel: object, what: str) -> DependencyCheck:
    """Another service answers its gRPC health check with SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel)

    async def check() -> str | None:
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.aio.AioRpcError as exc:
            return f"the {what} does not answer ({exc.code().name})"
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            return f"the {what} is {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}"
        return None

    return check


def timed_rpc(method: Callable[..., Awaitable[T]], histogram: Histogram, rpc: str) -> Callable[..., Awaitable[T]]:
    """Wraps a unary servicer method so each call is observed in `histogram` (labels rpc, outcome)."""

    @functools.wraps(method)
    async def timed(*args: object, **kwargs: object) -> T:
        started = time.monotonic()
        outcome = "error"
        try:
            answer = await method(*args, **kwargs)
            outcome = "ok"
            return answer
        finally:
            histogram.labels(rpc=rpc, outcome=outcome).observe(time.monotonic() - started)

    return timed
