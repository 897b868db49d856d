"""What operators see: each service's Prometheus metrics, and health that follows dependencies.

A stack of its own with `--metrics-listen` on every service: one run moves the counters it should,
and a grader that is killed turns the gateway's health NOT_SERVING until it is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import SERVICES, EmbeddedStack
from mleredux.v1 import common_pb2

METRICS = ["--metrics-listen", "127.0.0.1:0"]


@pytest.fixture(scope="module")
async def ops_stack(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> AsyncIterator[EmbeddedStack]:
    stack = EmbeddedStack(
        Home(tmp_path_factory.mktemp("ops-home")),
        gateway_http_listen=None,
        extra_args={name: METRICS for name in SERVICES},
    )
    await asyncio.to_thread(stack.start)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


def _scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _autogroup_mode(setting: Path) -> int:
    """The kernel's switch as the metric shows it: 1 on, 0 off, -1 where the kernel has none."""
    return (0 if setting.read_text().strip() == "0" else 1) if setting.exists() else -1


async def _health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return answer.status


async def test_a_run_shows_in_every_service_metrics(ops_stack: EmbeddedStack) -> None:
    stack = ops_stack
    assert all(s.metrics_address for s in stack.services.values())
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run("demo-digits", "dummy")
        async for _ in client.watch(run.run_id):
            pass
        assert (await client.get_run(run.run_id)).state == common_pb2.RunState.RUN_STATE_SUCCEEDED
    gateway = await asyncio.to_thread(_scrape, stack.services["gateway"].metrics_address)
    runner = await asyncio.to_thread(_scrape, stack.services["runner"].metrics_address)
    grader = await asyncio.to_thread(_scrape, stack.services["grader"].metrics_address)
    assert _value(gateway, "mleredux_gateway_runs", state="SUCCEEDED") >= 1
    assert _value(gateway, "mleredux_gateway_runs_finished_total", state="SUCCEEDED") >= 1
    assert _value(gateway, "mleredux_gateway_queue_wait_seconds_count") >= 1
    assert _value(gateway, "mleredux_gateway_event_lag_seconds_count") >= 1
    assert _value(gateway, "mleredux_gateway_grading_seconds_count") >= 1
    assert _value(gateway, "mleredux_gateway_queue_depth") == 0
    assert _value(runner, "mleredux_runner_container_starts_total") >= 1
    assert _value(runner, "mleredux_runner_run_endings_total", state="GRADING", reason="UNSPECIFIED") >= 1
    assert _value(grader, "mleredux_grader_call_seconds_count", rpc="GradeSubmission", outcome="ok") >= 1
    # Every service probes its own event loop every 10 ms (services/operations.py), the run's time at least.
    for samples in (gateway, runner, grader):
        assert _value(samples, "mleredux_event_loop_lag_seconds_count") >= 10
        assert _value(samples, "mleredux_event_loop_lag_max_seconds") > 0
    # Each service's CPU priority as the kernel has it, and the host's scheduling mode.
    for name, samples in (("gateway", gateway), ("runner", runner), ("grader", grader)):
        pid = stack.services[name].process.pid
        assert ("mleredux_cpu_nice", ()) in samples and ("mleredux_host_autogroup_scheduling", ()) in samples, name
        assert _value(samples, "mleredux_cpu_nice") == os.getpriority(os.PRIO_PROCESS, pid), name
    expected = _autogroup_mode(Path("/proc/sys/kernel/sched_autogroup_enabled"))
    assert _value(gateway, "mleredux_host_autogroup_scheduling") == expected
    if os.geteuid() == 0:  # below 0 needs root
        assert (_value(gateway, "mleredux_cpu_nice"), _value(runner, "mleredux_cpu_nice")) == (-10, -5)


async def test_the_gateway_is_not_serving_while_the_grader_is_down(ops_stack: EmbeddedStack) -> None:
    stack = ops_stack
    address = stack.services["gateway"].address
    assert await _health(address) == health_pb2.HealthCheckResponse.SERVING
    grader = stack.services["grader"].process
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    try:
        for _ in range(60):
            if await _health(address) == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
            await asyncio.sleep(0.5)
        assert await _health(address) == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await asyncio.to_thread(stack.restart, "grader")
    for _ in range(60):
        if await _health(address) == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.5)
    assert await _health(address) == health_pb2.HealthCheckResponse.SERVING
    log = stack.services["gateway"].log_path.read_text()
    assert "health: NOT_SERVING (grader: the grader does not answer" in log and "health: SERVING" in log
