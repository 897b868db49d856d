"""Recovery after a kill -9 of the runner: reattach by label, continue after the last seq held, or LOST.

The runner and the gateway are real processes; the runner is killed with SIGKILL (no shutdown code
runs, its containers keep going) and started again on the same port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mleredux import proto_json
from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.proto_json import struct_to_python
from mleredux.v1 import common_pb2, runner_pb2
from services.runner.servicer import RunnerSettings
from tests.conftest import containers_of
from tests.runner_harness import (
    RunnerProcess,
    collect,
    execute_request,
    log_lines,
    make_public_dir,
    runner_containers,
    statuses,
    stub,
)

RunState = common_pb2.RunState
Reason = common_pb2.FailureReason
STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT
STDERR = common_pb2.LogStream.LOG_STREAM_STDERR


@pytest.fixture
def runner(tmp_path: Path, dummy_image: str) -> Iterator[RunnerProcess]:
    process = RunnerProcess(tmp_path / "runner", (tmp_path / "store").as_uri())
    process.start()
    try:
        yield process
    finally:
        process.stop()
        runner_id = RunnerSettings(process.work_dir, "", "").runner_id
        assert runner_containers(runner_id) == []


def _seqs_are_gap_free(events: list[common_pb2.RunEvent], first: int = 1) -> bool:
    return [e.seq for e in events] == list(range(first, first + len(events)))


def _reattached(event: common_pb2.RunEvent) -> bool:
    """The notice a restarted runner gives for a run it took over (a warning event, not a status)."""
    return (
        event.rollout.kind == "warning"
        and "reattached" in proto_json.struct_to_python(event.rollout.payload)["message"]
    )


def _ticks(events: list[common_pb2.RunEvent]) -> tuple[list[str], list[str], list[int]]:
    out = [line for line in log_lines(events, STDOUT) if line.startswith("tick ")]
    err = [line for line in log_lines(events, STDERR) if line.startswith("tick-err ")]
    rollout = [
        struct_to_python(e.rollout.payload)["i"] for e in events if e.HasField("rollout") and e.rollout.kind == "tick"
    ]
    return out, err, rollout


async def test_a_run_that_ended_while_the_runner_was_down_is_finished_after_restart(
    runner: RunnerProcess, dummy_image: str, tmp_path: Path
) -> None:
    public = make_public_dir(tmp_path)
    events: list[common_pb2.RunEvent] = []
    async with runner.channel() as channel:
        call = stub(channel).ExecuteRun(execute_request("ended-while-down", dummy_image, public, DUMMY_TICKS="30"))
        await collect(call, events, until=lambda e: e.log_line.text == "tick 3")
        runner.kill9()
    [container] = containers_of("ended-while-down")
    # The agent carries on without the runner and finishes.
    await asyncio.to_thread(subprocess.run, ["docker", "wait", container], check=True, capture_output=True, timeout=60)
    runner.start()
    async with runner.channel() as channel:
        attach = stub(channel).AttachRun(
            runner_pb2.AttachRunRequest(run_id="ended-while-down", after_seq=events[-1].seq)
        )
        await collect(attach, events)
    assert _seqs_are_gap_free(events)
    out, err, rollout = _ticks(events)
    assert out == [f"tick {i}" for i in range(1, 31)]
    assert err == [f"tick-err {i}" for i in range(5, 31, 5)]
    assert rollout == [10, 20, 30]
    changes = statuses(events)
    # A restart repeats no status: it is a notice between the one RUNNING and the end.
    assert [c.state for c in changes] == [RunState.RUN_STATE_RUNNING, RunState.RUN_STATE_GRADING]
    assert changes[1].exit_code == 0
    assert len([e for e in events if _reattached(e)]) == 1
    stored = {e.artifact_stored.name for e in events if e.HasField("artifact_stored")}
    assert {"submission/submission.csv", "code/solution.sh", "rollout.jsonl"} <= stored
    assert containers_of("ended-while-down") == []
    # Delivered is not stored: the run stays on disk until its caller releases it (a gateway that
    # died after receiving the last events attaches again), then it is gone.
    work_dir = runner.work_dir / "runs" / "ended-while-down"
    assert work_dir.exists()
    async with runner.channel() as channel:
        again = [
            e
            async for b in stub(channel).AttachRun(
                runner_pb2.AttachRunRequest(run_id="ended-while-down", after_seq=events[-3].seq)
            )
            for e in b.events
        ]
        assert [e.seq for e in again] == [e.seq for e in events[-2:]]
        release = runner_pb2.ReleaseRunRequest(run_id="ended-while-down")
        assert (await stub(channel).ReleaseRun(release)).released
        assert not (await stub(channel).ReleaseRun(release)).released
    for _ in range(100):
        if not work_dir.exists():
            break
        await asyncio.sleep(0.1)
    assert not work_dir.exists()


async def test_a_container_removed_while_the_runner_was_down_ends_the_run_as_lost(
    runner: RunnerProcess, dummy_image: str, tmp_path: Path
) -> None:
    public = make_public_dir(tmp_path)
    events: list[common_pb2.RunEvent] = []
    async with runner.channel() as channel:
        call = stub(channel).ExecuteRun(execute_request("removed-while-down", dummy_image, public, DUMMY_SLEEP="60"))
        await collect(call, events, until=lambda e: e.log_line.text.startswith("sleeping"))
        runner.kill9()
    command = ["docker", "rm", "-f", *containers_of("removed-while-down")]
    await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)
    runner.start()
    async with runner.channel() as channel:
        attach = stub(channel).AttachRun(
            runner_pb2.AttachRunRequest(run_id="removed-while-down", after_seq=events[-1].seq)
        )
        await collect(attach, events)
        # A run the runner never heard of is LOST too, with its own reason.
        unknown: list[common_pb2.RunEvent] = []
        await collect(stub(channel).AttachRun(runner_pb2.AttachRunRequest(run_id="never-ran", after_seq=7)), unknown)
    assert _seqs_are_gap_free(events)
    final = statuses(events)[-1]
    assert final.state == RunState.RUN_STATE_LOST and final.reason == Reason.FAILURE_REASON_RUNNER_LOST
    assert "removed while the runner was down" in final.message
    # What the agent wrote before is not lost with the container.
    assert "submission/submission.csv" in {e.artifact_stored.name for e in events if e.HasField("artifact_stored")}
    assert [(e.seq, e.status_change.state) for e in unknown] == [(8, RunState.RUN_STATE_LOST)]
    assert "no record of run never-ran" in unknown[0].status_change.message


def test_the_reaper_removes_containers_no_run_owns_and_only_its_own(tmp_path: Path, dummy_image: str) -> None:
    work_dir = tmp_path / "runner"
    runner_id = RunnerSettings(work_dir, "", "").runner_id

    def start_sleeper(name: str, runner_label: str) -> str:
        command = ["docker", "run", "-d", "--pull=never", "--network", "none", "--name", name]
        labels = ["--label", f"mleredux.run_id={name}", "--label", f"mleredux.runner={runner_label}"]
        out = subprocess.run(
            [*command, *labels, dummy_image, "sleep", "60"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    orphan = start_sleeper(f"mleredux-orphan-{tmp_path.name[-8:]}", runner_id)
    foreign = start_sleeper(f"mleredux-foreign-{tmp_path.name[-8:]}", "another-runner")
    process = RunnerProcess(work_dir, (tmp_path / "store").as_uri())
    try:
        process.start()  # recovery: a container labelled with this runner's id but no run → removed
        assert runner_containers(runner_id) == []
        assert subprocess.run(["docker", "inspect", foreign], capture_output=True).returncode == 0
        assert subprocess.run(["docker", "inspect", orphan], capture_output=True).returncode != 0
    finally:
        process.stop()
        subprocess.run(["docker", "rm", "-f", orphan, foreign], capture_output=True)


@pytest.fixture(scope="module")
async def own_stack(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> AsyncIterator[EmbeddedStack]:
    """A stack of its own: these tests kill its services."""
    stack = EmbeddedStack(Home(tmp_path_factory.mktemp("recovery-home")), gateway_http_listen=None)
    await asyncio.to_thread(stack.start)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


async def test_kill_9_of_the_runner_mid_run_loses_nothing(own_stack: EmbeddedStack) -> None:
    """The gateway's stored stream has every line exactly once and in seq order, and the run ends
    normally, although the runner was killed while the agent was printing."""
    stack = own_stack
    ticks = 150
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run(
            "demo-digits", "dummy", env={"DUMMY_TICKS": str(ticks), "DUMMY_TICK_SECONDS": "0.03"}
        )
        async for event in client.watch(run.run_id):
            if event.log_line.text == "tick 20":
                break
        runner = stack.services["runner"].process
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        held = (await client.get_run(run.run_id)).last_seq
        assert containers_of(run.run_id), "the container must outlive the runner"
        await asyncio.to_thread(stack.restart, "runner")
        events = [event async for event in client.watch(run.run_id)]
        final = await client.get_run(run.run_id)
    assert final.state == RunState.RUN_STATE_SUCCEEDED, final.message
    assert _seqs_are_gap_free(events) and final.last_seq == len(events) > held
    out, err, rollout = _ticks(events)
    assert out == [f"tick {i}" for i in range(1, ticks + 1)]
    assert err == [f"tick-err {i}" for i in range(5, ticks + 1, 5)]
    assert rollout == list(range(10, ticks + 1, 10))
    changes = statuses(events)
    assert [c.state for c in changes].count(RunState.RUN_STATE_RUNNING) == 1
    assert len([e for e in events if _reattached(e)]) == 1
    assert [c.state for c in changes][-2:] == [RunState.RUN_STATE_GRADING, RunState.RUN_STATE_SUCCEEDED]
    assert containers_of(run.run_id) == []


async def test_kill_9_of_the_gateway_mid_run_reattaches_after_its_restart(own_stack: EmbeddedStack) -> None:
    """The runner keeps a run whose follower vanished; the restarted gateway attaches after the last
    event it had stored, and the run ends normally."""
    stack = own_stack
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run("demo-digits", "dummy", env={"DUMMY_TICKS": "100", "DUMMY_TICK_SECONDS": "0.03"})
        async for event in client.watch(run.run_id):
            if event.log_line.text == "tick 10":
                break
    gateway = stack.services["gateway"].process
    os.kill(gateway.pid, signal.SIGKILL)
    gateway.wait()
    await asyncio.to_thread(stack.restart, "gateway")
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        events = [event async for event in client.watch(run.run_id)]
        final = await client.get_run(run.run_id)
    assert final.state == RunState.RUN_STATE_SUCCEEDED, final.message
    assert _seqs_are_gap_free(events)
    out, err, rollout = _ticks(events)
    assert out == [f"tick {i}" for i in range(1, 101)]
    assert err == [f"tick-err {i}" for i in range(5, 101, 5)] and rollout == list(range(10, 101, 10))
    assert containers_of(run.run_id) == []


async def test_a_run_still_waiting_for_capacity_when_the_runner_died_starts_after_the_restart(
    tmp_path: Path, dummy_image: str
) -> None:
    runner = RunnerProcess(tmp_path / "runner", (tmp_path / "store").as_uri(), extra_args=["--cpus-total", "1"])
    public = make_public_dir(tmp_path)
    compute = common_pb2.ComputeProfile(cpus=1.0, memory_bytes=128 << 20, time_limit_seconds=60)
    first: list[common_pb2.RunEvent] = []
    second: list[common_pb2.RunEvent] = []
    runner.start()
    try:
        async with runner.channel() as channel:
            call_a = stub(channel).ExecuteRun(
                execute_request("busy", dummy_image, public, compute=compute, DUMMY_SLEEP="60")
            )
            await collect(call_a, first, until=lambda e: e.log_line.text.startswith("sleeping"))
            call_b = stub(channel).ExecuteRun(execute_request("queued", dummy_image, public, compute=compute))
            await collect(call_b, second, until=lambda e: e.HasField("status_change"))
            runner.kill9()
        runner.start()
        async with runner.channel() as channel:
            runner_stub = stub(channel)
            attach_a = runner_stub.AttachRun(runner_pb2.AttachRunRequest(run_id="busy", after_seq=first[-1].seq))
            attach_b = runner_stub.AttachRun(runner_pb2.AttachRunRequest(run_id="queued", after_seq=second[-1].seq))
            rest_b = asyncio.create_task(collect(attach_b, second))
            await collect(attach_a, first, until=_reattached)
            cancel = runner_pb2.RunnerServiceCancelRunRequest(run_id="busy", reason="make room")
            assert (await runner_stub.CancelRun(cancel)).found
            await collect(attach_a, first)
            await rest_b
    finally:
        runner.stop()
    assert _seqs_are_gap_free(first) and _seqs_are_gap_free(second)
    assert statuses(first)[-1].state == RunState.RUN_STATE_CANCELLED
    changes = [(c.state, c.message) for c in statuses(second)]
    assert changes[0][0] == RunState.RUN_STATE_PREPARING and "waiting for runner capacity" in changes[0][1]
    assert changes[1] == (RunState.RUN_STATE_PREPARING, "the runner restarted before the run started")
    assert [state for state, _ in changes[2:]][-2:] == [RunState.RUN_STATE_RUNNING, RunState.RUN_STATE_GRADING]
    assert containers_of("busy") == [] and containers_of("queued") == []
