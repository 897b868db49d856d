"""A gateway over two runners (two runner processes sharing this Docker host, each with its own id
and budget): runs are placed by capacity, a user over their quota waits while another user's run
starts, and each run records the runner it went to."""

from __future__ import annotations

import asyncio
import select
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2
from tests.conftest import free_port
from tests.runner_harness import RunnerProcess

RunState = common_pb2.RunState


@pytest.fixture(scope="module")
def two_runners(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunnerProcess]]:
    grader = stack.services["grader"].address
    runners = []
    try:
        for name in ("a", "b"):
            work = tmp_path_factory.mktemp(f"runner-{name}")
            runner = RunnerProcess(
                work / "work", stack.home.store_url, extra_args=["--grader", grader, "--cpus-total", "1"]
            )
            runner.start()
            runners.append(runner)
        yield runners
    finally:
        for runner in runners:
            runner.stop()


class GatewayProcess:
    """`mleredux serve gateway` over the stack's preparer and grader and the given runners."""

    def __init__(self, stack: EmbeddedStack, runners: list[RunnerProcess], root: Path) -> None:
        self.root = root
        self.address = f"127.0.0.1:{free_port()}"
        command = [sys.executable, "-m", "mleredux", "serve", "gateway", "--listen", self.address]
        command += ["--db", str(root / "gateway.sqlite3"), "--store", stack.home.store_url]
        command += ["--preparer", stack.services["preparer"].address, "--grader", stack.services["grader"].address]
        command += ["--runner", ",".join(r.address for r in runners), "--per-user-limit", "1"]
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.root / "gateway.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, bufsize=0
            )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready and self.process.stdout.readline().startswith(b"listening on "):
                return
            assert self.process.poll() is None, (self.root / "gateway.log").read_text()
        raise AssertionError("the gateway did not start")

    @property
    def token(self) -> str:
        return (self.root / "admin.token").read_text().strip()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def scheduling_gateway(
    stack: EmbeddedStack, two_runners: list[RunnerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A second gateway with its own database, over both runners, at most one run per user."""
    gateway = GatewayProcess(stack, two_runners, tmp_path_factory.mktemp("gateway-2"))
    gateway.start()
    try:
        yield gateway.address, gateway.token
    finally:
        gateway.stop()


@pytest.fixture
async def admin(scheduling_gateway: tuple[str, str]) -> AsyncIterator[GatewayClient]:
    address, token = scheduling_gateway
    async with GatewayClient(address, token) as client:
        yield client


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(60):
        # Polling a remote service's state: there is no local event to wait on.
        while not await predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def test_runs_are_spread_over_runners_and_users_take_turns(
    scheduling_gateway: tuple[str, str], two_runners: list[RunnerProcess], admin: GatewayClient
) -> None:
    address, _ = scheduling_gateway
    alice_token = (await admin.create_token("alice")).token
    bob_token = (await admin.create_token("bob")).token
    sleepy = {"DUMMY_SLEEP": "4"}
    compute = common_pb2.ComputeProfile(cpus=1, time_limit_seconds=120)
    async with GatewayClient(address, alice_token) as alice, GatewayClient(address, bob_token) as bob:
        first = await alice.create_run("demo-digits", "dummy", env=sleepy, compute=compute)
        second = await alice.create_run("demo-digits", "dummy", env=sleepy, compute=compute)

        async def first_running() -> bool:
            return (await alice.get_run(first.run_id)).state == RunState.RUN_STATE_RUNNING

        await _until(first_running)
        # alice is at her quota of one: her second run waits even though runner b is free...
        waiting = await alice.get_run(second.run_id)
        assert waiting.state in (RunState.RUN_STATE_QUEUED, RunState.RUN_STATE_PREPARING), waiting
        assert not waiting.runner
        # ...and bob's run goes straight to the other runner.
        bobs = await bob.create_run("demo-digits", "dummy", env=sleepy, compute=compute)

        async def bob_running() -> bool:
            return (await bob.get_run(bobs.run_id)).state == RunState.RUN_STATE_RUNNING

        await _until(bob_running)
        placed = {(await alice.get_run(first.run_id)).runner, (await bob.get_run(bobs.run_id)).runner}
        assert placed == {r.address for r in two_runners}
        assert (await alice.get_run(second.run_id)).state != RunState.RUN_STATE_RUNNING
        for client, run_id in ((alice, first.run_id), (alice, second.run_id), (bob, bobs.run_id)):
            async for _ in client.watch(run_id):
                pass
            done = await client.get_run(run_id)
            assert done.state == RunState.RUN_STATE_SUCCEEDED, done.message
        events = [e async for e in alice.watch(second.run_id)]
        messages = [e.status_change.message for e in events if e.HasField("status_change")]
        assert any("waiting for a runner" in m for m in messages), messages


async def test_a_run_waiting_for_a_runner_survives_a_gateway_kill(
    stack: EmbeddedStack, two_runners: list[RunnerProcess], tmp_path: Path
) -> None:
    gateway = GatewayProcess(stack, two_runners[:1], tmp_path)
    gateway.start()
    try:
        compute = common_pb2.ComputeProfile(cpus=1, time_limit_seconds=120)
        async with GatewayClient(gateway.address, gateway.token) as client:
            first = await client.create_run("demo-digits", "dummy", env={"DUMMY_SLEEP": "3"}, compute=compute)
            second = await client.create_run("demo-digits", "dummy", compute=compute)

            async def second_waits() -> bool:
                run = await client.get_run(second.run_id)
                return run.state == RunState.RUN_STATE_PREPARING and "waiting for a runner" in run.message

            await _until(second_waits)
        gateway.kill9()
        gateway.start()
        async with GatewayClient(gateway.address, gateway.token) as client:
            for run_id in (first.run_id, second.run_id):
                events = [e async for e in client.watch(run_id)]
                done = await client.get_run(run_id)
                assert done.state == RunState.RUN_STATE_SUCCEEDED, done.message
                assert [e.seq for e in events] == list(range(1, len(events) + 1))
    finally:
        gateway.stop()


async def test_an_agent_is_built_on_every_runner(
    admin: GatewayClient, two_runners: list[RunnerProcess], tmp_path: Path
) -> None:
    """Issue 14: with several runners every runner can run every agent: each one builds it."""
    folder = tmp_path / "spread"
    folder.mkdir()
    (folder / "run.sh").write_text(f"cp /home/data/sample_submission.csv $SUBMISSION_DIR/submission.csv\n# {folder}\n")
    (folder / "Dockerfile").write_text(
        'FROM mleredux-base-busybox:latest\nCOPY run.sh /agent/run.sh\nCMD ["/bin/sh", "/agent/run.sh"]\n'
    )
    created = await admin.create_agent("spread", directory=folder)
    lines, final = [], None
    async for message in admin.watch_agent_build(created.name):
        if message.HasField("agent"):
            final = message.agent
        else:
            lines.append(message.line)
    assert final is not None and final.build_state == gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY, final
    for runner in two_runners:
        assert f"-- building on runner {runner.address}" in lines, lines
    run = await admin.create_run("demo-digits", "spread")
    async for _ in admin.watch(run.run_id):
        pass
    done = await admin.get_run(run.run_id)
    assert done.state == common_pb2.RunState.RUN_STATE_SUCCEEDED, done.message
    assert done.agent_digest == final.digest


async def test_an_agent_building_when_the_gateway_is_killed_ends_failed_after_restart(
    stack: EmbeddedStack, two_runners: list[RunnerProcess], tmp_path: Path
) -> None:
    """Nothing half-made: a build the gateway lost is FAILED (saying why) and its name is free again."""
    folder = tmp_path / "slow"
    folder.mkdir()
    # Unique to this call: the engine keeps images across test runs, and tmp paths repeat once old
    # ones are removed, so a context named only by its path could be "reused" instead of built.
    (folder / "Dockerfile").write_text(
        f"FROM mleredux-base-busybox:latest\nRUN echo {folder} {uuid.uuid4().hex} && sleep 20\n"
    )
    gateway = GatewayProcess(stack, two_runners[:1], tmp_path)
    gateway.start()
    try:
        async with GatewayClient(gateway.address, gateway.token) as client:
            created = await client.create_agent("slow", directory=folder)

            async def building() -> bool:
                return (await client.get_agent("slow")).last_seq > 0

            await _until(building)
        gateway.kill9()
        gateway.start()
        async with GatewayClient(gateway.address, gateway.token) as client:
            lost = await client.get_agent(created.name)
            assert lost.build_state == gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_FAILED, lost
            assert "the gateway restarted during the build" in lost.build_message
            (folder / "Dockerfile").write_text("FROM mleredux-base-busybox:latest\n")
            again = await client.create_agent("slow", directory=folder)
            assert again.build_state == gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_BUILDING
            async for message in client.watch_agent_build(again.name):
                if message.HasField("agent"):
                    assert message.agent.build_state == gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY
    finally:
        gateway.stop()
