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


# -- hints from a whole evaluation ------------------------------------------------------------------


async def _to_end(client: GatewayClient, evaluation_id: str) -> gateway_pb2.Evaluation:
    async for _ in client.watch_evaluation(evaluation_id):
        pass
    return await client.get_evaluation(evaluation_id)


@pytest.fixture(scope="module")
async def technique_evaluation(stack: EmbeddedStack, baseline_image: str) -> tuple[gateway_pb2.Evaluation, str]:
    """The baseline doing the `missing` technique task on demo-digits, and the error a hinted
    evaluation got while it still ran."""
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        created = await client.create_evaluation(
            "baseline", competition_ids=["demo-digits"], seeds=1, task="missing", name="technique: missing"
        )
        assert created.task == "missing"
        with pytest.raises(GatewayError) as early:
            await client.create_evaluation(
                "dummy", competition_ids=["demo-digits"], seeds=1, hint_evaluation_id=created.evaluation_id
            )
        assert early.value.code == grpc.StatusCode.FAILED_PRECONDITION
        evaluation = await _to_end(client, created.evaluation_id)
    assert evaluation.progress.succeeded == 1, evaluation.message
    return evaluation, str(early.value)


async def test_hints_from_an_evaluation_give_its_runs_analyses(
    client: GatewayClient, technique_evaluation: tuple[gateway_pb2.Evaluation, str]
) -> None:
    source, early = technique_evaluation
    assert "is still running; hints are taken from an ended evaluation" in early
    (technique_cell,) = source.runs
    technique = await client.get_run(technique_cell.run_id)
    assert technique.task == "missing" and technique.report.valid_submission, technique.message

    created = await client.create_evaluation(
        "dummy", competition_ids=["demo-digits"], seeds=2, hint_evaluation_id=source.evaluation_id, hint_rollouts=True
    )
    evaluation = await _to_end(client, created.evaluation_id)
    assert evaluation.state == gateway_pb2.EvaluationState.EVALUATION_STATE_SUCCEEDED, evaluation.message
    # The runs the hints came from are on the record, beside the evaluation they were taken from.
    assert evaluation.hint_evaluation_id == source.evaluation_id
    assert list(evaluation.hint_run_ids) == [technique.run_id]
    analysis = f"missing-{technique.run_id}-analysis.json"
    rollout = f"missing-{technique.run_id}-rollout.jsonl"
    for cell in evaluation.runs:
        lines = stdout([e async for e in client.watch(cell.run_id, follow=False)])
        assert f"hints: README.md {analysis} {rollout}" in lines
        assert "hints-write: refused" in lines
        given = json.loads(await client.get_artifact(cell.run_id, f"hints/{analysis}"))
        assert given == json.loads(await client.get_artifact(technique.run_id, "submission/missing_analysis.json"))
        names = {a.name for a in await client.list_artifacts(cell.run_id)}
        # Never anything answer-derived: no report, and the technique run's score is nowhere in the hints.
        assert not any(n.startswith("hints/") and "report" in n for n in names)
        readme = (await client.get_artifact(cell.run_id, "hints/README.md")).decode()
        assert f"{technique.report.score}" not in readme


async def test_hints_from_an_evaluation_are_checked_at_create_time(
    stack: EmbeddedStack, client: GatewayClient, technique_evaluation: tuple[gateway_pb2.Evaluation, str]
) -> None:
    source, _ = technique_evaluation

    async def refused(**kwargs: object) -> GatewayError:
        with pytest.raises(GatewayError) as caught:
            await client.create_evaluation("dummy", seeds=1, **kwargs)  # type: ignore[arg-type]
        return caught.value

    # On other competitions than the new evaluation's: a specific error naming both sets.
    error = await refused(competition_ids=["demo-diabetes"], hint_evaluation_id=source.evaluation_id)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "hints from an evaluation on other competitions" in str(error)
    assert "no runs on demo-diabetes (its competitions: demo-digits)" in str(error)
    # Part of the set uncovered is refused too (every competition needs its hints).
    error = await refused(competition_ids=["demo-digits", "demo-diabetes"], hint_evaluation_id=source.evaluation_id)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "no runs on demo-diabetes" in str(error)
    assert "other competitions" not in str(error)
    # Unknown, and another user's (reported as unknown).
    error = await refused(competition_ids=["demo-digits"], hint_evaluation_id="evnope")
    assert error.code == grpc.StatusCode.NOT_FOUND and "hint_evaluation_id: no evaluation 'evnope'" in str(error)
    bob = await client.create_token("hints-bob", "test")
    async with GatewayClient(stack.gateway_address, bob.token) as other:
        with pytest.raises(GatewayError) as caught:
            await other.create_evaluation(
                "dummy", competition_ids=["demo-digits"], seeds=1, hint_evaluation_id=source.evaluation_id
            )
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert f"no evaluation {source.evaluation_id!r}" in str(caught.value)
    # Both kinds of hints at once.
    error = await refused(
        competition_ids=["demo-digits"], hint_evaluation_id=source.evaluation_id, hint_run_ids=[source.runs[0].run_id]
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "not both" in str(error)

    # A plain evaluation has no technique analyses to give.
    plain = await _to_end(
        client, (await client.create_evaluation("dummy", competition_ids=["demo-digits"], seeds=1)).evaluation_id
    )
    error = await refused(competition_ids=["demo-digits"], hint_evaluation_id=plain.evaluation_id)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "ran plain competition runs" in str(error)
    # A technique evaluation whose runs wrote no analysis (the dummy writes none): no usable material.
    empty = await _to_end(
        client,
        (
            await client.create_evaluation("dummy", competition_ids=["demo-digits"], seeds=1, task="missing")
        ).evaluation_id,
    )
    assert empty.progress.agent_failures == 1, empty.message
    error = await refused(competition_ids=["demo-digits"], hint_evaluation_id=empty.evaluation_id)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "has no stored missing analysis on demo-digits" in str(error)
    # An unknown task is refused, listing the six.
    error = await refused(competition_ids=["demo-digits"], task="nope")
    assert "nope" in str(error) and "missing" in str(error)
