"""Names a user gives are checked before Docker sees them; Docker calls are bounded; cancel frees capacity.

The attack this answers: `"agent": "../../events?x="` was pasted into an Engine API URL, the runner's
image check opened Docker's endless `/events` stream, the run hung in PREPARING holding its capacity,
and cancel did not give it back.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.errors import ImageMissingError, InvalidArgumentError
from mleredux.names import check_agent, check_image_reference, check_run_id, is_image_reference
from mleredux.v1 import common_pb2, runner_pb2
from services.runner.backends.base import ContainerSpec
from services.runner.backends.docker import DockerBackend, DockerUnavailableError
from services.runner.servicer import RunnerSettings
from tests.conftest import containers_of
from tests.docker_proxy import HoldingDockerProxy
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
Reason = common_pb2.FailureReason
ATTACK = "../../events?x="
#: A valid reference no engine here has: its inspection is what the proxy holds.
HELD_IMAGE = "mleredux-held-probe:never"

VALID = [
    "busybox",
    "mleredux-agent-dummy:225e0628dfc6",
    "library/python:3.11-slim",
    "localhost:5000/team/agent:v1.2",
    "registry.example.com/a__b/c---d:latest",
    "[::1]:5000/agent:v1",
    "agent@sha256:" + "a" * 64,
    "agent:v1@sha256:" + "0" * 64,
]
INVALID = [
    ATTACK,
    "../events",
    "agent/../../events",
    "Agent:v1",
    "team/Agent:v1",
    "agent:",
    "agent:-v1",
    "agent:" + "t" * 129,
    "a..b:1",
    "a_-b:1",
    "agent:v1?x=1",
    "agent:v1#frag",
    "agent%2f..:v1",
    "agent :v1",
    "agent:v1\n",
    "agent@sha256:abc",
    "/agent:v1",
    "agent/:v1",
    "a" * 256 + ":v1",
]


@pytest.mark.parametrize("reference", VALID)
def test_references_by_dockers_grammar_are_accepted(reference: str) -> None:
    assert is_image_reference(reference)
    assert check_image_reference(reference) == reference


@pytest.mark.parametrize("reference", INVALID)
def test_anything_else_is_refused_before_it_reaches_a_url(reference: str) -> None:
    assert not is_image_reference(reference)
    with pytest.raises(InvalidArgumentError, match="is not a Docker image reference"):
        check_image_reference(reference)


def test_agent_names_and_run_ids_have_their_own_formats() -> None:
    assert check_agent("dummy") == "dummy" and check_agent("my-agent.v2") == "my-agent.v2"
    for bad in ("", "..", "Dummy", "dummy agent", "-x", "x" * 65):
        with pytest.raises(InvalidArgumentError):
            check_agent(bad)
    assert check_run_id("0123456789abcdef") == "0123456789abcdef" and check_run_id("cap-a.1_b")
    for bad in ("", ".", "..", "a/b", "-a", "a" * 65, "a\nb", "a?b"):
        with pytest.raises(InvalidArgumentError):
            check_run_id(bad)
    # A huge input is refused quickly and quoted only in part.
    with pytest.raises(InvalidArgumentError) as huge:
        check_image_reference("a/" * 10_000_000)
    assert len(str(huge.value)) < 500


async def test_the_attack_through_the_gateway_is_invalid_argument(stack: EmbeddedStack) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        for agent in (ATTACK, "../../images/json", "dummy?x=1"):
            with pytest.raises(GatewayError) as refused:
                await client.create_run("demo-digits", agent)
            assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert "is not" in str(refused.value)
        listed = await client.list_runs(page_size=1000)
    assert all(run.agent != ATTACK for run in listed.runs)


async def test_the_attack_as_json_over_http_is_a_400_with_the_reason(stack: EmbeddedStack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://{stack.http_address}/v1/runs",
            json={"competition_id": "demo-digits", "agent": ATTACK},
            headers=headers,
        ) as response,
    ):
        body = await response.text()
    assert response.status == 400, body
    assert "is not a Docker image reference" in body and "events?x=" in body


async def test_the_docker_backend_checks_the_reference_itself() -> None:
    backend = DockerBackend()
    spec = ContainerSpec(name="mleredux-x", image=ATTACK, env={}, mounts=[], labels={})
    try:
        with pytest.raises(InvalidArgumentError):
            await backend.start(spec)
        # Valid but absent: IMAGE_MISSING at once (never pulled).
        absent = ContainerSpec(name="mleredux-x", image="mleredux-absent-probe:never", env={}, mounts=[], labels={})
        with pytest.raises(ImageMissingError, match="is not on this Docker host"):
            await backend.start(absent)
    finally:
        await backend.close()


@pytest.fixture
def proxy() -> Iterator[HoldingDockerProxy]:
    directory = Path(tempfile.mkdtemp(prefix="mlr-dp-"))  # short: unix socket paths are capped
    try:
        with HoldingDockerProxy(directory / "docker.sock", [f"/images/{HELD_IMAGE}/".encode()]) as held:
            yield held
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_an_engine_call_that_never_answers_times_out(
    proxy: HoldingDockerProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", proxy.docker_host)
    backend = DockerBackend(call_timeout_seconds=1.0)
    spec = ContainerSpec(name="mleredux-held", image=HELD_IMAGE, env={}, mounts=[], labels={})
    try:
        assert await backend.find({"mleredux.probe": "none"}) == []  # the proxy forwards the rest
        with pytest.raises(DockerUnavailableError, match=r"did not answer an inspection of image .* within 1s"):
            await backend.start(spec)
    finally:
        await backend.close()
    assert proxy.held == 1


@pytest.fixture
def held_runner(tmp_path: Path, proxy: HoldingDockerProxy, dummy_image: str) -> Iterator[RunnerProcess]:
    runner = RunnerProcess(
        tmp_path / "runner",
        (tmp_path / "store").as_uri(),
        extra_args=["--cpus-total", "1", "--memory-total", "1024", "--max-concurrent", "1"],
        env={"DOCKER_HOST": proxy.docker_host},
    )
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
        assert runner_containers(RunnerSettings(runner.work_dir, "", "").runner_id) == []


async def test_cancelling_a_run_stuck_on_docker_frees_its_capacity_for_the_next_one(
    held_runner: RunnerProcess, proxy: HoldingDockerProxy, dummy_image: str, tmp_path: Path
) -> None:
    public = make_public_dir(tmp_path)
    compute = common_pb2.ComputeProfile(cpus=1.0, memory_bytes=256 << 20, time_limit_seconds=60)
    stuck: list[common_pb2.RunEvent] = []
    other: list[common_pb2.RunEvent] = []
    async with held_runner.channel() as channel:
        runner = stub(channel)
        # Run ids and images are checked at ExecuteRun too (the runner is reachable without the gateway).
        for run_id, image in (("../x", dummy_image), ("ok-id", ATTACK)):
            refused = runner.ExecuteRun(execute_request(run_id, image, public, compute=compute))
            with pytest.raises(grpc.aio.AioRpcError) as invalid:
                await collect(refused, [])
            assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        call_stuck = runner.ExecuteRun(execute_request("held-a", HELD_IMAGE, public, compute=compute))
        stuck_task = asyncio.create_task(collect(call_stuck, stuck))
        for _ in range(100):  # its image inspection has reached the engine (and is held there)
            if proxy.held:
                break
            await asyncio.sleep(0.1)
        assert proxy.held == 1
        capacity = await runner.GetCapacity(runner_pb2.GetCapacityRequest())
        assert capacity.running == 1 and not stuck  # it holds the whole budget while it hangs, silent
        call_other = runner.ExecuteRun(execute_request("other-b", dummy_image, public, compute=compute))
        await collect(call_other, other, until=lambda e: e.HasField("status_change"))
        assert "waiting for runner capacity" in statuses(other)[-1].message
        found = await runner.CancelRun(runner_pb2.RunnerServiceCancelRunRequest(run_id="held-a", reason="stuck"))
        assert found.found
        await stuck_task
        await collect(call_other, other)
        capacity = await runner.GetCapacity(runner_pb2.GetCapacityRequest())
    final = statuses(stuck)[-1]
    assert (final.state, final.reason, final.message) == (
        RunState.RUN_STATE_CANCELLED,
        Reason.FAILURE_REASON_CANCELLED,
        "stuck",
    )
    assert [s.state for s in statuses(other)][-2:] == [RunState.RUN_STATE_RUNNING, RunState.RUN_STATE_GRADING]
    assert capacity.running == 0 and containers_of("held-a") == [] and containers_of("other-b") == []


async def test_a_valid_absent_image_fails_the_run_as_image_missing(held_runner: RunnerProcess, tmp_path: Path) -> None:
    public = make_public_dir(tmp_path)
    events: list[common_pb2.RunEvent] = []
    async with held_runner.channel() as channel:
        await collect(stub(channel).ExecuteRun(execute_request("absent-1", "mleredux-absent-probe:v1", public)), events)
    final = statuses(events)[-1]
    assert final.state == RunState.RUN_STATE_FAILED and final.reason == Reason.FAILURE_REASON_IMAGE_MISSING
    assert "mleredux-absent-probe:v1" in final.message and "never pulled" in final.message
