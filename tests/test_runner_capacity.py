"""The runner's budget: admission in arrival order, refusal of what can never fit, GetCapacity."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, runner_pb2
from services.runner.capacity import Admission, Budget, CapacityExceededError, Claim
from services.runner.servicer import RunnerSettings
from tests.conftest import containers_of
from tests.runner_harness import (
    RunnerProcess,
    collect,
    execute_request,
    make_public_dir,
    runner_containers,
    statuses,
    stub,
)

RunState = common_pb2.RunState
GIB = 1 << 30


async def test_admission_grants_in_arrival_order_within_the_budget() -> None:
    admission = Admission(Budget(cpus=2.0, memory_bytes=4 * GIB, gpus=0, max_concurrent=3))
    first = admission.try_acquire(Claim(1.5, GIB))
    assert first is not None
    big = asyncio.create_task(admission.acquire(Claim(1.0, GIB)))  # does not fit beside `first`
    small = asyncio.create_task(admission.acquire(Claim(0.5, GIB)))  # would fit, but arrived later
    await asyncio.sleep(0)
    assert not big.done() and not small.done()
    assert admission.usage().waiting == 2 and admission.usage().cpus == 1.5
    first.release()
    big_lease = await big
    small_lease = await small
    usage = admission.usage()
    assert (usage.cpus, usage.memory_bytes, usage.running, usage.waiting) == (1.5, 2 * GIB, 2, 0)
    big_lease.release()
    small_lease.release()
    small_lease.release()  # idempotent
    assert admission.usage().running == 0


async def test_a_cancelled_wait_takes_nothing_and_lets_the_next_one_in() -> None:
    admission = Admission(Budget(cpus=1.0, memory_bytes=GIB, gpus=0, max_concurrent=1))
    held = admission.try_acquire(Claim(1.0, GIB // 2))
    assert held is not None
    blocked = asyncio.create_task(admission.acquire(Claim(1.0, GIB // 2)))
    behind = asyncio.create_task(admission.acquire(Claim(1.0, GIB // 2)))
    await asyncio.sleep(0)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    held.release()
    lease = await behind
    assert admission.usage().running == 1
    lease.release()
    assert admission.usage() == admission.usage().__class__(0.0, 0, 0, 0, 0)


def test_a_claim_larger_than_the_whole_budget_is_refused_with_what_is_missing() -> None:
    admission = Admission(Budget(cpus=2.0, memory_bytes=GIB, gpus=0, max_concurrent=4))
    with pytest.raises(CapacityExceededError, match=r"4 CPUs \(budget 2\) and 1 GPUs \(budget 0\)"):
        admission.check(Claim(4.0, GIB, gpus=1))
    admission.check(Claim(2.0, GIB))


@pytest.fixture
def small_runner(tmp_path: Path, dummy_image: str) -> Iterator[RunnerProcess]:
    runner = RunnerProcess(
        tmp_path / "runner",
        (tmp_path / "store").as_uri(),
        extra_args=["--cpus-total", "1", "--memory-total", "1024", "--max-concurrent", "4"],
    )
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
        assert runner_containers(RunnerSettings(runner.work_dir, "", "").runner_id) == []


async def test_runs_beyond_the_budget_wait_their_turn_and_get_capacity_reports_it(
    small_runner: RunnerProcess, dummy_image: str, tmp_path: Path
) -> None:
    public = make_public_dir(tmp_path)
    compute = common_pb2.ComputeProfile(cpus=1.0, memory_bytes=256 << 20, time_limit_seconds=60)
    first: list[common_pb2.RunEvent] = []
    second: list[common_pb2.RunEvent] = []
    async with small_runner.channel() as channel:
        runner = stub(channel)
        call_a = runner.ExecuteRun(execute_request("cap-a", dummy_image, public, compute=compute, DUMMY_SLEEP="30"))
        await collect(call_a, first, until=lambda e: e.log_line.text.startswith("sleeping"))
        call_b = runner.ExecuteRun(execute_request("cap-b", dummy_image, public, compute=compute))
        await collect(call_b, second, until=lambda e: e.HasField("status_change"))
        waiting = second[-1].status_change
        assert waiting.state == RunState.RUN_STATE_PREPARING and "waiting for runner capacity" in waiting.message
        assert "1/1 CPUs" in waiting.message and containers_of("cap-b") == []
        capacity = await runner.GetCapacity(runner_pb2.GetCapacityRequest())
        assert (capacity.cpus_total, capacity.cpus_used, capacity.running, capacity.max_concurrent) == (1, 1, 1, 4)
        assert (capacity.memory_bytes_total, capacity.memory_bytes_used) == (1 << 30, 256 << 20)
        # Too big for the whole budget: refused at once, not queued forever.
        huge = runner.ExecuteRun(
            execute_request("cap-huge", dummy_image, public, compute=common_pb2.ComputeProfile(cpus=3.0))
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await collect(huge, [])
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "3 CPUs (budget 1)" in (refused.value.details() or "")
        # Starting a run id twice is refused too; the first one goes on.
        again = runner.ExecuteRun(execute_request("cap-a", dummy_image, public, compute=compute))
        with pytest.raises(grpc.aio.AioRpcError) as twice:
            await collect(again, [])
        assert twice.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # When the first run ends, the second gets its turn.
        assert (
            await runner.CancelRun(runner_pb2.RunnerServiceCancelRunRequest(run_id="cap-a", reason="make room"))
        ).found
        await collect(call_a, first)
        await collect(call_b, second)
        capacity = await runner.GetCapacity(runner_pb2.GetCapacityRequest())
    assert statuses(first)[-1].state == RunState.RUN_STATE_CANCELLED and statuses(first)[-1].message == "make room"
    assert [s.state for s in statuses(second)] == [
        RunState.RUN_STATE_PREPARING,
        RunState.RUN_STATE_RUNNING,
        RunState.RUN_STATE_GRADING,
    ]
    assert second[0].seq == 1 and [e.seq for e in second] == list(range(1, len(second) + 1))
    assert capacity.running == 0 and capacity.cpus_used == 0
    assert containers_of("cap-a") == [] and containers_of("cap-b") == []


async def test_a_run_larger_than_the_runner_fails_at_once_naming_the_budget(stack: EmbeddedStack) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        # Below the ceilings (a request above them, e.g. 1000 CPUs, is refused at CreateRun:
        # tests/test_gateway_bounds.py) but above what any runner of this host has.
        run = await client.create_run("demo-digits", "dummy", compute=common_pb2.ComputeProfile(cpus=48))
        [event async for event in client.watch(run.run_id)]
        final = await client.get_run(run.run_id)
    assert final.state == RunState.RUN_STATE_FAILED
    assert final.failure_reason == common_pb2.FailureReason.FAILURE_REASON_INTERNAL
    # The gateway's scheduler knows the runners' budgets (GetCapacity) and refuses before queueing.
    assert re.search(r"asks for 48 CPUs.*more than any runner has \(largest: \d+ CPUs", final.message), final.message
