"""gRPC message sizes: a service refuses a request larger than its bound from the message's length
prefix, before parsing it or looking at the caller's token, so a huge unauthenticated request costs
the service no memory (docs/limits.md, "gRPC messages")."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from mleredux.embedded import EmbeddedStack
from mleredux.v1 import gateway_pb2, gateway_pb2_grpc, grader_pb2, grader_pb2_grpc, runner_pb2, runner_pb2_grpc
from services.server import DEFAULT_MAX_REQUEST_BYTES
from tests.service_memory import ServiceMemory

HUGE = 200 * 1024 * 1024
#: Four 200 MB requests took the gateway from 313 to 2,106 MiB when it accepted 256 MB messages.
GROWTH_BOUND = 100 * 1024 * 1024


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes: now, and the peak since it started."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def _channel(address: str) -> grpc.aio.Channel:
    # The client may send what it likes; the bound is the server's.
    return grpc.aio.insecure_channel(address, options=[("grpc.max_send_message_length", HUGE + (1 << 20))])


async def test_a_huge_unauthenticated_request_is_refused_without_memory(stack: EmbeddedStack) -> None:
    gateway = stack.services["gateway"]
    memory = ServiceMemory(stack)
    memory.start()  # the peak from here on, not since the gateway started
    before_rss, before_peak = _memory(gateway.process.pid)
    huge_id = "r" * HUGE
    async with _channel(gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        for _ in range(4):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetRun(gateway_pb2.GetRunRequest(run_id=huge_id), timeout=120)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
            assert str(DEFAULT_MAX_REQUEST_BYTES) in (caught.value.details() or ""), caught.value.details()
        # A request within the bound still reaches the servicer (and is refused for want of a token).
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetRun(gateway_pb2.GetRunRequest(run_id="r" * 1000), timeout=60)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    after_rss, after_peak = _memory(gateway.process.pid)
    assert after_rss - before_rss < GROWTH_BOUND, (before_rss, after_rss)
    assert after_peak - before_peak < GROWTH_BOUND, (before_peak, after_peak)
    ServiceMemory.check(memory.stop())
    assert gateway.process.poll() is None


async def test_internal_services_bound_requests_except_the_graders_uploads(stack: EmbeddedStack) -> None:
    runner = stack.services["runner"]
    async with _channel(runner.address) as channel:
        stub = runner_pb2_grpc.RunnerServiceStub(channel)
        small = await stub.CancelRun(runner_pb2.RunnerServiceCancelRunRequest(run_id="x", reason="r" * (1 << 20)))
        assert not small.found
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CancelRun(
                runner_pb2.RunnerServiceCancelRunRequest(run_id="x", reason="r" * DEFAULT_MAX_REQUEST_BYTES), timeout=60
            )
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The grader's RPCs carry submissions: a body of twice the few MB reaches its servicer.
    grader = stack.services["grader"]
    async with _channel(grader.address) as channel:
        content = b"id,label\n" + b"0,0\n" * (2 * DEFAULT_MAX_REQUEST_BYTES // 4)
        try:
            answer = await grader_pb2_grpc.GraderServiceStub(channel).ValidateSubmission(
                grader_pb2.ValidateSubmissionRequest(competition_id="demo-digits", content=content), timeout=120
            )
        except grpc.aio.AioRpcError as exc:  # e.g. not prepared yet in this session: still not a size refusal
            assert exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED, exc.details()
        else:
            assert not answer.valid and answer.message
