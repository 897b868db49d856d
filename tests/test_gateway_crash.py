"""Nothing lost across crashes: kill -9 of the gateway (several times) and of the grader during a backlog.

A stack of its own (these tests kill its services) drains a few hundred dummy runs while the gateway
is killed with SIGKILL and started again at moments when runs are queued, preparing, running and
grading. Every run must end SUCCEEDED with a gap-free event stream: a run whose container finished is
collected from the runner (which keeps it until the gateway releases it), a run caught grading is
graded again from its stored submission, and grading waits for a grader that is coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2
from services.scratch import _start_ticks

RunState = common_pb2.RunState
TERMINAL = {
    RunState.RUN_STATE_SUCCEEDED,
    RunState.RUN_STATE_FAILED,
    RunState.RUN_STATE_CANCELLED,
    RunState.RUN_STATE_TIMED_OUT,
    RunState.RUN_STATE_LOST,
}
TINY = common_pb2.ComputeProfile(cpus=0.05, memory_bytes=64 << 20, time_limit_seconds=120)
CONCURRENCY = ["--max-concurrent", "12"]
#: The backlog is one user's (the admin's): past the default bound of 100 unfinished runs per user.
BACKLOG = ["--max-unfinished-runs-per-user", "1000"]


@pytest.fixture(scope="module")
async def crash_stack(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> AsyncIterator[EmbeddedStack]:
    stack = EmbeddedStack(
        Home(tmp_path_factory.mktemp("crash-home")),
        gateway_http_listen=None,
        extra_args={"gateway": CONCURRENCY + BACKLOG, "runner": CONCURRENCY},
    )
    await asyncio.to_thread(stack.start)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


async def _all_runs(client: GatewayClient) -> list[gateway_pb2.Run]:
    runs: list[gateway_pb2.Run] = []
    token = ""
    while True:
        page = await client.list_runs(page_size=100, page_token=token)
        runs += page.runs
        token = page.next_page_token
        if not token:
            return runs


async def _create(stack: EmbeddedStack, count: int) -> list[str]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        return [(await client.create_run("demo-digits", "dummy", compute=TINY)).run_id for _ in range(count)]


async def _states(stack: EmbeddedStack, run_ids: list[str]) -> Counter[int]:
    wanted = set(run_ids)
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        return Counter(r.state for r in await _all_runs(client) if r.run_id in wanted)


async def _wait_until_finished(stack: EmbeddedStack, run_ids: list[str], at_least: int) -> Counter[int]:
    for _ in range(1200):
        states = await _states(stack, run_ids)
        if sum(n for state, n in states.items() if state in TERMINAL) >= at_least:
            return states
        await asyncio.sleep(0.25)
    raise AssertionError(f"runs did not finish: {states}")


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    return False


def _kill(stack: EmbeddedStack, name: str) -> None:
    """SIGKILL of a service; the processes it started (the gateway's chore process) must go with it."""
    process = stack.services[name].process
    children = _children(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for _ in range(100):
        if not any(_alive(child) for child in children):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} killed, but its processes {sorted(c for c in children if _alive(c))} live on")


async def _assert_all_succeeded(stack: EmbeddedStack, run_ids: list[str]) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        runs = {r.run_id: r for r in await _all_runs(client) if r.run_id in set(run_ids)}
        bad = {
            run_id: (RunState.Name(r.state), r.message)
            for run_id, r in runs.items()
            if r.state != RunState.RUN_STATE_SUCCEEDED
        }
        assert len(runs) == len(run_ids)
        assert not bad, f"{len(bad)} of {len(run_ids)} runs did not succeed: {list(bad.items())[:5]}"
        for run_id in run_ids:
            events = [e async for e in client.watch(run_id, follow=False)]
            assert [e.seq for e in events] == list(range(1, len(events) + 1)), run_id
            assert sum(1 for e in events if e.HasField("report")) >= 1, run_id


async def test_repeated_gateway_kills_during_a_backlog_lose_no_run(crash_stack: EmbeddedStack) -> None:
    stack = crash_stack
    total = 240
    run_ids = await _create(stack, total)
    seen: list[Counter[int]] = []
    with_chores = 0
    for fraction in (0.15, 0.4, 0.65, 0.85):
        seen.append(await _wait_until_finished(stack, run_ids, int(total * fraction)))
        with_chores += bool(_children(stack.services["gateway"].process.pid))
        _kill(stack, "gateway")
        await asyncio.to_thread(stack.restart, "gateway")
    await _wait_until_finished(stack, run_ids, total)
    await _assert_all_succeeded(stack, run_ids)
    # The kills met runs that were waiting, on a runner, and done: the states the recovery must handle.
    met = set().union(*seen)
    assert {RunState.RUN_STATE_SUCCEEDED} < met and met & {RunState.RUN_STATE_QUEUED, RunState.RUN_STATE_PREPARING}
    assert met & {RunState.RUN_STATE_RUNNING, RunState.RUN_STATE_GRADING}
    assert with_chores, "no kill met a gateway with its chore process (nothing checked it dies too)"


async def test_a_grader_killed_mid_backlog_is_waited_for(crash_stack: EmbeddedStack) -> None:
    stack = crash_stack
    total = 60
    run_ids = await _create(stack, total)
    await _wait_until_finished(stack, run_ids, total // 4)
    pid = stack.services["grader"].process.pid
    scratch = Path(tempfile.gettempdir()) / "mleredux-grader-scratch" / f"{pid}.{_start_ticks(pid)}"
    assert scratch.is_dir()  # where its grades spool submissions
    _kill(stack, "grader")
    await asyncio.sleep(2)  # runs reach GRADING with nobody to grade them
    await asyncio.to_thread(stack.restart, "grader")
    assert not scratch.exists(), "the restarted grader left the killed one's scratch folder"
    await _wait_until_finished(stack, run_ids, total)
    await _assert_all_succeeded(stack, run_ids)
