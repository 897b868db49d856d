"""Each isolation property, observed from inside a real container run through the whole stack.

The dummy agent prints what it sees (network interfaces, whether the private answers are reachable,
whether /home/data takes a write, its uid, the cgroup limits the kernel enforces) and can allocate
memory on request; the runner's verdicts for memory, time and cancel are checked end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2
from services.runner.backends.base import ContainerSpec, Mount
from services.runner.backends.docker import DockerBackend
from tests.conftest import containers_of

RunState = common_pb2.RunState
Reason = common_pb2.FailureReason
STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT
MIB = 1 << 20


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        yield gateway


async def _run(
    client: GatewayClient, compute: common_pb2.ComputeProfile | None = None, **env: str
) -> tuple[gateway_pb2.Run, list[str]]:
    run = await client.create_run("demo-digits", "dummy", env=env, compute=compute)
    events = [event async for event in client.watch(run.run_id)]
    out = [e.log_line.text for e in events if e.HasField("log_line") and e.log_line.stream == STDOUT]
    return await client.get_run(run.run_id), out


@pytest.fixture(scope="module")
async def probe(stack: EmbeddedStack) -> tuple[gateway_pb2.Run, list[str]]:
    compute = common_pb2.ComputeProfile(cpus=0.5, memory_bytes=256 * MIB, pids_limit=100, shm_bytes=32 * MIB)
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        return await _run(gateway, compute, DUMMY_LIMITS="1")


def test_the_network_has_only_loopback(probe: tuple[gateway_pb2.Run, list[str]]) -> None:
    run, out = probe
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    assert "interfaces: lo" in out


def test_the_private_answers_are_absent(probe: tuple[gateway_pb2.Run, list[str]]) -> None:
    assert "answers: absent" in probe[1]


def test_a_write_to_the_data_dir_is_refused(probe: tuple[gateway_pb2.Run, list[str]]) -> None:
    assert "data-write: refused" in probe[1]


def test_the_agent_is_not_root(probe: tuple[gateway_pb2.Run, list[str]]) -> None:
    [started] = [line for line in probe[1] if line.startswith("dummy-agent stdout: started as ")]
    assert "uid=65534" in started and "uid=0(" not in started


def test_the_kernel_enforces_the_runs_cpu_memory_pids_and_shm_limits(probe: tuple[gateway_pb2.Run, list[str]]) -> None:
    [limits] = [line for line in probe[1] if line.startswith("limits: ")]
    # cgroup v1 prints quota/period, v2 "quota period" (made quota/period by the agent).
    assert limits == f"limits: memory={256 * MIB} cpu=50000/100000 pids=100 shm-kb={32 * 1024}"


async def test_hitting_the_memory_limit_is_reported_as_out_of_memory(client: GatewayClient) -> None:
    compute = common_pb2.ComputeProfile(memory_bytes=64 * MIB)
    run, out = await _run(client, compute, DUMMY_ALLOCATE_MB="200")
    assert "allocating 200 MiB" in out and "allocated 200 MiB" not in out
    assert run.state == RunState.RUN_STATE_FAILED
    assert run.failure_reason == Reason.FAILURE_REASON_OUT_OF_MEMORY
    assert "out of memory" in run.message
    assert containers_of(run.run_id) == []


async def test_the_time_limit_ends_the_run_as_timed_out(client: GatewayClient) -> None:
    run, _ = await _run(client, common_pb2.ComputeProfile(time_limit_seconds=2), DUMMY_SLEEP="60")
    assert run.state == RunState.RUN_STATE_TIMED_OUT
    assert run.failure_reason == Reason.FAILURE_REASON_TIME_LIMIT
    assert containers_of(run.run_id) == []


async def test_cancel_ends_the_run_as_cancelled_and_removes_the_container(client: GatewayClient) -> None:
    run = await client.create_run("demo-digits", "dummy", env={"DUMMY_SLEEP": "120"})
    async for event in client.watch(run.run_id):
        if event.HasField("log_line") and event.log_line.text.startswith("sleeping"):
            break
    assert containers_of(run.run_id)
    cancelled = await client.cancel_run(run.run_id)
    assert cancelled.state == RunState.RUN_STATE_CANCELLED
    assert cancelled.failure_reason == Reason.FAILURE_REASON_CANCELLED
    assert containers_of(run.run_id) == []
    # Cancelling a finished run changes nothing.
    again = await client.cancel_run(run.run_id)
    assert again.state == RunState.RUN_STATE_CANCELLED and again.last_seq == cancelled.last_seq


def test_what_the_engine_is_asked_for_includes_gpus_and_no_network() -> None:
    """GPUs cannot be exercised on this host; the request Docker receives is checked instead."""
    spec = ContainerSpec(
        name="n",
        image="i",
        env={"A": "1"},
        mounts=[Mount("/data", "/home/data", read_only=True), Mount("/out", "/home/submission")],
        labels={"mleredux.run_id": "r"},
        cpus=1.5,
        memory_bytes=512 * MIB,
        pids_limit=64,
        shm_bytes=16 * MIB,
        gpus=2,
    )
    config = DockerBackend()._config(spec)
    host = config["HostConfig"]
    assert config["NetworkDisabled"] is True and host["NetworkMode"] == "none"
    assert config["User"] == "65534:65534"
    assert host["Binds"] == ["/data:/home/data:ro", "/out:/home/submission:rw"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"]) == (512 * MIB, 512 * MIB, 1_500_000_000)
    assert (host["PidsLimit"], host["ShmSize"]) == (64, 16 * MIB)
    assert host["DeviceRequests"] == [{"Driver": "", "Count": 2, "Capabilities": [["gpu"]]}]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
