"""What one user may ask of the gateway (issue 12.10, deliverable 1), on the real stack: a request above
the runners' ceilings (100,000 processes, 2^62 s, a 1.5 MB env) is refused at CreateRun, before it is
stored or queued; one user's unfinished runs, request rate and open event streams are bounded, and
another user is still served."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
import pytest

from mleredux.ceilings import Ceilings
from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from services.gateway.quotas import UserQuota

RunState = common_pb2.RunState
CEILINGS = Ceilings()
#: GatewaySettings.max_unfinished_runs_per_user's default.
UNFINISHED_RUNS_PER_USER = 100


async def _user_token(stack: EmbeddedStack, user: str) -> str:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as admin:
        return (await admin.create_token(user, "bounds")).token


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pids_limit", 100_000),
        ("time_limit_seconds", 1 << 62),
        ("cpus", 1000.0),
        ("memory_bytes", 1 << 50),
        ("disk_bytes", 1 << 50),
        ("gpus", 100),
        ("cpus", -1.0),
        ("disk_bytes", -5),
    ],
)
async def test_compute_above_a_ceiling_is_refused_at_create_run(stack: EmbeddedStack, field: str, value: float) -> None:
    token = await _user_token(stack, f"greedy-{field}")
    compute = common_pb2.ComputeProfile()
    setattr(compute, field, value)
    async with GatewayClient(stack.gateway_address, token) as client:
        with pytest.raises(GatewayError) as refused:
            await client.create_run("demo-digits", "dummy", compute=compute)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert f"compute.{field}" in str(refused.value)
        if value >= 0:
            assert f"ceiling of {int(getattr(CEILINGS, field))} (GatewaySettings.ceilings.{field})" in str(
                refused.value
            )
        assert not (await client.list_runs(page_size=10)).runs  # nothing was stored


async def test_a_huge_env_is_refused_at_create_run_over_grpc_and_http(stack: EmbeddedStack) -> None:
    token = await _user_token(stack, "greedy-env")
    big = {"BIG": "x" * (1536 * 1024)}  # issue 12.10's 1.5 MB env, once rewritten with every event batch
    async with GatewayClient(stack.gateway_address, token) as client:
        with pytest.raises(GatewayError) as refused:
            await client.create_run("demo-digits", "dummy", env=big)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert f"above the ceiling of {CEILINGS.env_bytes}" in str(refused.value)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://{stack.http_address}/v1/runs",
            json={
                "competition_id": "demo-digits",
                "agent": "dummy",
                "compute": {"cpus": 0.5, "pids_limit": 100_000},
            },
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        body = await response.json()
    assert response.status == 400 and body["code"] == "INVALID_ARGUMENT", body
    assert "compute.pids_limit = 100000 is above the ceiling of 32768" in body["message"]
    async with GatewayClient(stack.gateway_address, token) as client:
        assert not (await client.list_runs(page_size=10)).runs


async def test_one_user_cannot_fill_the_queue_and_another_still_gets_in(stack: EmbeddedStack) -> None:
    flooder = await _user_token(stack, "flooder")
    other = await _user_token(stack, "patient")
    created: list[str] = []
    async with GatewayClient(stack.gateway_address, flooder) as client:
        try:
            # Long runs: none can end before the flood is over.
            for _ in range(UNFINISHED_RUNS_PER_USER):
                run = await client.create_run("demo-digits", "dummy", env={"DUMMY_SLEEP": "600"})
                created.append(run.run_id)
            with pytest.raises(GatewayError) as refused:
                await client.create_run("demo-digits", "dummy")
            assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            message = str(refused.value)
            assert f"flooder already has {UNFINISHED_RUNS_PER_USER} unfinished runs" in message
            assert "GatewaySettings.max_unfinished_runs_per_user" in message
            async with GatewayClient(stack.gateway_address, other) as patient:
                theirs = await patient.create_run("demo-digits", "dummy")
                await patient.cancel_run(theirs.run_id)
            # Cancelling one gives the flooder one slot back.
            await client.cancel_run(created.pop())
            created.append((await client.create_run("demo-digits", "dummy", env={"DUMMY_SLEEP": "600"})).run_id)
        finally:
            for run_id in created:
                await client.cancel_run(run_id)
        for run_id in created:
            assert (await client.get_run(run_id)).state == RunState.RUN_STATE_CANCELLED


#: GatewaySettings.user_quota's defaults (services/gateway/quotas.py).
QUOTA = UserQuota()


async def test_a_user_past_its_request_rate_is_refused_and_another_user_is_not(stack: EmbeddedStack) -> None:
    hammer = await _user_token(stack, "hammer")
    other = await _user_token(stack, "calm")
    calls = 3 * QUOTA.request_burst
    async with grpc.aio.insecure_channel(stack.gateway_address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        metadata = (("authorization", f"Bearer {hammer}"),)

        async def one() -> grpc.StatusCode:
            try:
                await stub.GetCaller(gateway_pb2.GetCallerRequest(), metadata=metadata, timeout=120)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc.details()
                assert "rate limited: at most 50 requests per second per user" in (exc.details() or "")
                return exc.code()
            return grpc.StatusCode.OK

        outcomes: list[grpc.StatusCode] = []
        for _ in range(calls // 50):  # 50 in flight at a time, as fast as the gateway answers
            outcomes += await asyncio.gather(*(one() for _ in range(50)))
        # While the hammer is refused, another user is served as usual.
        async with GatewayClient(stack.gateway_address, other) as calm:
            assert (await calm.whoami()).user == "calm"
        await asyncio.sleep(2.0)  # the bucket refills: the hammer is served again
        assert await one() == grpc.StatusCode.OK
    refused = outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    print(f"{calls} calls, 50 in flight at a time: {calls - refused} served, {refused} refused")
    assert refused > 0 and calls - refused >= QUOTA.request_burst


async def test_a_user_cannot_hold_more_event_streams_than_its_bound(stack: EmbeddedStack) -> None:
    token = await _user_token(stack, "watcher")
    metadata = (("authorization", f"Bearer {token}"),)
    async with GatewayClient(stack.gateway_address, token) as client:
        run = await client.create_run("demo-digits", "dummy", env={"DUMMY_SLEEP": "600"})
        try:
            async with grpc.aio.insecure_channel(stack.gateway_address) as channel:
                stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                request = gateway_pb2.WatchRunRequest(run_id=run.run_id)
                held = [stub.WatchRun(request, metadata=metadata) for _ in range(QUOTA.max_watch_streams)]
                for call in held:
                    await call.initial_metadata()  # sent once the stream holds its slot
                extra = stub.WatchRun(request, metadata=metadata)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    async for _ in extra:
                        pass
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert f"watcher has {QUOTA.max_watch_streams}, at most {QUOTA.max_watch_streams}" in (
                    refused.value.details() or ""
                )
                # Closing streams gives their slots back.
                for call in held:
                    call.cancel()
                for _ in range(100):
                    again = stub.WatchRun(request, metadata=metadata)
                    try:
                        await again.initial_metadata()
                        code = await again.code() if again.done() else grpc.StatusCode.OK
                    finally:
                        again.cancel()
                    if code == grpc.StatusCode.OK:
                        break
                    await asyncio.sleep(0.1)
                assert code == grpc.StatusCode.OK
        finally:
            await client.cancel_run(run.run_id)
