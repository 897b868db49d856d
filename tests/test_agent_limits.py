"""A tenant who tries to make the service spend more on agents than it allows: a context over the cap,
more agents than the quota, more image bytes than the quota, a build that never ends. Each is a
specific reason, on a stack of its own with small bounds."""

from __future__ import annotations

import asyncio
import math
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import gateway_pb2

READY = gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY
FAILED = gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_FAILED
BUILD_TIMEOUT_SECONDS = 5


def _image_size(image: str) -> int:
    command = ["docker", "image", "inspect", "--format", "{{.Size}}", image]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


@pytest.fixture(scope="module")
async def own_stack(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> AsyncIterator[EmbeddedStack]:
    size = await asyncio.to_thread(_image_size, dummy_image)
    # One busybox agent fits the byte quota, two different ones do not.
    quota_mib = math.ceil(size * 1.5 / (1 << 20))
    assert (quota_mib << 20) < 2 * size
    stack = EmbeddedStack(
        Home(tmp_path_factory.mktemp("agent-limits-home")),
        gateway_http_listen=None,
        extra_args={
            "gateway": ["--agent-quota", "2", "--agent-quota-mib", str(quota_mib), "--agent-context-mib", "1"],
            "runner": ["--agent-build-timeout", str(BUILD_TIMEOUT_SECONDS)],
        },
    )
    await asyncio.to_thread(stack.start)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


def _folder(directory: Path, extra: str = "") -> Path:
    directory.mkdir()
    (directory / "run.sh").write_text(
        f"cp /home/data/sample_submission.csv $SUBMISSION_DIR/submission.csv\n# {directory}\n"
    )
    (directory / "Dockerfile").write_text(
        'FROM mleredux-base-busybox:latest\nCOPY run.sh /agent/run.sh\nCMD ["/bin/sh", "/agent/run.sh"]\n' + extra
    )
    return directory


async def _final(client: GatewayClient, name: str) -> gateway_pb2.Agent:
    final = None
    async for message in client.watch_agent_build(name):
        if message.HasField("agent"):
            final = message.agent
    assert final is not None
    return final


async def _tenant(stack: EmbeddedStack, user: str) -> GatewayClient:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as admin:
        token = (await admin.create_token(user, "limits")).token
    return GatewayClient(stack.gateway_address, token)


async def test_a_context_over_the_cap_is_refused_while_it_streams(own_stack: EmbeddedStack) -> None:
    client = await _tenant(own_stack, "cap-tester")

    async def huge() -> AsyncIterator[gateway_pb2.CreateAgentRequest]:
        yield gateway_pb2.CreateAgentRequest(header=gateway_pb2.CreateAgentHeader(agent_id="huge"))
        for _ in range(3):
            yield gateway_pb2.CreateAgentRequest(context_chunk=bytes(1 << 20))

    async with client:
        with pytest.raises(grpc.aio.AioRpcError) as over:
            await client._stub.CreateAgent(huge(), timeout=120, metadata=client._metadata)
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "over the cap of 1 MiB" in (over.value.details() or "")
        assert [a.name for a in (await client.list_agents()).agents if a.owner] == []


async def test_the_agent_count_and_image_byte_quotas_hold(own_stack: EmbeddedStack, tmp_path: Path) -> None:
    one = _folder(tmp_path / "one")
    async with await _tenant(own_stack, "quota-tester") as client:
        first = await _final(client, (await client.create_agent("first", directory=one)).name)
        assert first.build_state == READY, first.build_message
        # The same folder again is the same image: it costs no bytes, but it is an agent.
        twin = await _final(client, (await client.create_agent("twin", directory=one)).name)
        assert twin.build_state == READY and twin.digest == first.digest, twin.build_message
        with pytest.raises(GatewayError) as too_many:
            await client.create_agent("third", directory=one)
        assert too_many.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "the most one user may have (2)" in str(too_many.value)
        await client.delete_agent("twin")
        # A different image does not fit beside the first.
        other = await _final(client, (await client.create_agent("other", directory=_folder(tmp_path / "two"))).name)
        assert other.build_state == FAILED and "your agents already take" in other.build_message, other
        with pytest.raises(GatewayError) as unusable:
            await client.create_run("demo-digits", "other")
        assert unusable.value.code == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_build_past_the_runners_time_limit_fails_saying_so(own_stack: EmbeddedStack, tmp_path: Path) -> None:
    slow = _folder(tmp_path / "slow", extra="RUN sleep 120\n")
    async with await _tenant(own_stack, "slow-tester") as client:
        final = await _final(client, (await client.create_agent("slow", directory=slow)).name)
    assert final.build_state == FAILED
    assert f"did not finish within its limit of {BUILD_TIMEOUT_SECONDS} s" in final.build_message, final.build_message
