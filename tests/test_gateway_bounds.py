"""What one user may ask of the gateway (issue 12.10, deliverable 1), on the real stack: a request above
the runners' ceilings (100,000 processes, 2^62 s, a 1.5 MB env) is refused at CreateRun, before it is
stored or queued; one user's unfinished runs are bounded, and another user still gets a run in."""

from __future__ import annotations

import aiohttp
import grpc
import pytest

from mleredux.ceilings import Ceilings
from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2

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
