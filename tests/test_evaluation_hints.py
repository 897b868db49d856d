"""Technique hints: an evaluation gives each run the analyses of earlier technique-task runs on its
competition, read-only at /home/hints/, named in /home/instructions.txt, and never anything answer-derived."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2

RunState = common_pb2.RunState


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        yield gateway


@pytest.fixture(scope="module")
async def technique_run(stack: EmbeddedStack, baseline_image: str) -> gateway_pb2.Run:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run("demo-digits", "baseline", task="missing")
        async for _ in client.watch(run.run_id):
            pass
        run = await client.get_run(run.run_id)
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    return run


def stdout(events: list[common_pb2.RunEvent]) -> list[str]:
    return [e.log_line.text for e in events if e.HasField("log_line")]


async def test_runs_see_the_hints_read_only_and_named_in_the_instructions(
    client: GatewayClient, technique_run: gateway_pb2.Run
) -> None:
    created = await client.create_evaluation(
        "dummy", competition_ids=["demo-digits"], seeds=2, hint_run_ids=[technique_run.run_id], hint_rollouts=True
    )
    async for _ in client.watch_evaluation(created.evaluation_id):
        pass
    evaluation = await client.get_evaluation(created.evaluation_id)
    assert evaluation.state == gateway_pb2.EvaluationState.EVALUATION_STATE_SUCCEEDED, evaluation.message
    assert list(evaluation.hint_run_ids) == [technique_run.run_id] and evaluation.hint_rollouts
    analysis = f"missing-{technique_run.run_id}-analysis.json"
    rollout = f"missing-{technique_run.run_id}-rollout.jsonl"
    for cell in evaluation.runs:
        lines = stdout([e async for e in client.watch(cell.run_id, follow=False)])
        assert f"hints: README.md {analysis} {rollout}" in lines
        assert "hints: named in the instructions" in lines
        assert "hints-write: refused" in lines
        run = await client.get_run(cell.run_id)
        assert run.env["HINTS_DIR"] == "/home/hints" and run.env["SEED"] == str(cell.seed)
        names = {a.name for a in await client.list_artifacts(cell.run_id)}
        assert {f"hints/{analysis}", f"hints/{rollout}", "hints/README.md"} <= names
        given = json.loads(await client.get_artifact(cell.run_id, f"hints/{analysis}"))
        original = json.loads(await client.get_artifact(technique_run.run_id, "submission/missing_analysis.json"))
        assert given == original  # the agent's own analysis, as written
        readme = (await client.get_artifact(cell.run_id, "hints/README.md")).decode()
        assert "no scores" in readme and f"{technique_run.report.score}" not in readme
        assert not any(n.startswith("hints/") and "report" in n for n in names)


async def test_runs_without_hints_have_no_hints_dir(client: GatewayClient) -> None:
    created = await client.create_evaluation("dummy", competition_ids=["demo-digits"], seeds=1)
    async for _ in client.watch_evaluation(created.evaluation_id):
        pass
    (cell,) = (await client.get_evaluation(created.evaluation_id)).runs
    lines = stdout([e async for e in client.watch(cell.run_id, follow=False)])
    assert not any(line.startswith("hints:") for line in lines)


async def test_bad_hints_are_refused_at_create_time(client: GatewayClient, technique_run: gateway_pb2.Run) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation(
            "dummy", competition_ids=["demo-diabetes"], seeds=1, hint_run_ids=[technique_run.run_id]
        )
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "is on demo-digits, which is not in the evaluation's set" in str(caught.value)
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation("dummy", competition_ids=["demo-digits"], seeds=1, hint_run_ids=["nope"])
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    plain = await client.create_run("demo-digits", "dummy")
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation("dummy", competition_ids=["demo-digits"], seeds=1, hint_run_ids=[plain.run_id])
    assert "not a technique-task run" in str(caught.value)
    async for _ in client.watch(plain.run_id):
        pass
