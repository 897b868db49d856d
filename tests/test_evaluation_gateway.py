"""An evaluation service inside a gateway servicer of the test's own (its own database, its own
limits) driving runs on the session stack's real preparer, runner and grader: the size and per-user
bounds, and an evaluation that carries on across a gateway restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mleredux.embedded import EmbeddedStack
from mleredux.errors import InvalidArgumentError
from mleredux.store import open_store
from mleredux.v1 import gateway_pb2
from services.gateway.auth import Principal
from services.gateway.evaluations import EvaluationLimits, TooManyEvaluationsError
from services.gateway.servicer import GatewayServicer, GatewaySettings

EvaluationState = gateway_pb2.EvaluationState
ALICE = Principal(user="alice", admin=False, token_id="t-alice")
BOB = Principal(user="bob", admin=False, token_id="t-bob")


@asynccontextmanager
async def gateway(stack: EmbeddedStack, directory: Path, limits: EvaluationLimits) -> AsyncIterator[GatewayServicer]:
    settings = GatewaySettings(
        db_path=directory / "gateway.db",
        store_url=stack.home.store_url,
        preparer_address=stack.services["preparer"].address,
        runner_address=stack.services["runner"].address,
        grader_address=stack.services["grader"].address,
        admin_token_file=directory / "admin.token",
        evaluation_limits=limits,
    )
    servicer = GatewayServicer(settings, open_store(settings.store_url))
    await servicer.start()
    try:
        yield servicer
    finally:
        await servicer.shutdown()


def request(**kwargs: object) -> gateway_pb2.CreateEvaluationRequest:
    return gateway_pb2.CreateEvaluationRequest(agent="dummy", **kwargs)  # type: ignore[arg-type]


async def test_size_and_per_user_bounds(stack: EmbeddedStack, tmp_path: Path) -> None:
    limits = EvaluationLimits(max_cells=5, max_running_per_user=1)
    async with gateway(stack, tmp_path, limits) as servicer:
        service = servicer.evaluations
        with pytest.raises(InvalidArgumentError, match=r"3 competitions x 2 seeds = 6 runs; .* at most 5"):
            await service.create(ALICE, request(split="demo", seeds=2))
        slow = {"DUMMY_SLEEP": "60"}
        first = await service.create(ALICE, request(competition_ids=["demo-digits"], seeds=1, env=slow))
        with pytest.raises(TooManyEvaluationsError, match="you have 1 evaluations running"):
            await service.create(ALICE, request(competition_ids=["demo-digits"], seeds=1))
        other = await service.create(BOB, request(competition_ids=["demo-digits"], seeds=1, env=slow))
        for who, evaluation in ((ALICE, first), (BOB, other)):
            cancelled = await service.cancel(who, evaluation.evaluation_id)
            assert cancelled.state == EvaluationState.EVALUATION_STATE_CANCELLED
        again = await service.create(ALICE, request(competition_ids=["demo-digits"], seeds=1))  # room again
        await service.cancel(ALICE, again.evaluation_id)


async def test_an_evaluation_carries_on_across_a_gateway_restart(stack: EmbeddedStack, tmp_path: Path) -> None:
    limits = EvaluationLimits()
    async with gateway(stack, tmp_path, limits) as servicer:
        created = await servicer.evaluations.create(
            ALICE, request(competition_ids=["demo-digits"], seeds=3, concurrency=1, env={"DUMMY_SLEEP": "2"})
        )
        evaluation_id = created.evaluation_id
        for _ in range(600):
            if servicer.evaluations.get(ALICE, evaluation_id).progress.done >= 1:
                break
            await asyncio.sleep(0.1)
        before = servicer.evaluations.get(ALICE, evaluation_id)
        assert before.state == EvaluationState.EVALUATION_STATE_RUNNING and before.progress.done >= 1
    # The gateway stopped with the evaluation running; a new one on the same database takes it up.
    async with gateway(stack, tmp_path, limits) as servicer:
        watched = [
            e
            async for e in servicer.evaluations.watch(
                ALICE, gateway_pb2.WatchEvaluationRequest(evaluation_id=evaluation_id, from_seq=before.last_seq + 1)
            )
        ]
        after = servicer.evaluations.get(ALICE, evaluation_id)
    assert after.state == EvaluationState.EVALUATION_STATE_SUCCEEDED, after.message
    assert after.progress.done == 3 and after.progress.succeeded == 3
    assert [e.seq for e in watched] == list(range(before.last_seq + 1, after.last_seq + 1))
    # A run stopped by the shutdown is an interruption, not the agent's failure: it was run again.
    for cell in after.runs:
        assert cell.done and cell.attempts == 1 + len(cell.retried_run_ids)
    # With one run in flight at a time, the shutdown caught exactly one (the next starts as one ends).
    assert after.progress.retries == sum(len(c.retried_run_ids) for c in after.runs) == 1
    assert {c.seed for c in after.runs} == {1, 2, 3}
