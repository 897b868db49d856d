"""Evaluations end to end: the gateway (a separate process) drives ordinary runs of the dummy agent
through the real runner, grader and Docker engine, and ends with MLE-bench's aggregate."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.evaluation.aggregate import FIGURES
from mleredux.evaluation.export import write_mlebench
from mleredux.evaluation.messages import aggregate_from, directions, reports_from, run_rows
from mleredux.v1 import common_pb2, gateway_pb2

RunState = common_pb2.RunState
Reason = common_pb2.FailureReason
EvaluationState = gateway_pb2.EvaluationState


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        yield gateway


async def watch_to_end(client: GatewayClient, evaluation_id: str) -> list[gateway_pb2.EvaluationEvent]:
    return [event async for event in client.watch_evaluation(evaluation_id)]


def figures_of(evaluation: gateway_pb2.Evaluation, group: str = "all") -> gateway_pb2.EvaluationGroupFigures:
    return next(f for f in evaluation.figures if f.group == group)


@pytest.fixture(scope="module")
async def dummy_evaluation(stack: EmbeddedStack) -> tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        created = await client.create_evaluation(
            "dummy", competition_ids=["demo-digits"], seeds=3, concurrency=2, name="dummy x3"
        )
        assert created.state == EvaluationState.EVALUATION_STATE_RUNNING
        assert created.progress.total == 3
        events = await watch_to_end(client, created.evaluation_id)
        return await client.get_evaluation(created.evaluation_id), events


async def test_an_evaluation_of_the_dummy_ends_with_the_aggregate(
    dummy_evaluation: tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]],
) -> None:
    evaluation, events = dummy_evaluation
    assert evaluation.state == EvaluationState.EVALUATION_STATE_SUCCEEDED, evaluation.message
    assert evaluation.name == "dummy x3" and evaluation.concurrency == 2 and evaluation.max_attempts == 3
    progress = evaluation.progress
    assert (progress.total, progress.done, progress.succeeded, progress.running, progress.queued) == (3, 3, 3, 0, 0)
    assert (progress.agent_failures, progress.system_failures, progress.retries, progress.medals) == (0, 0, 0, 0), [
        e.message for e in events
    ]
    # The dummy submits the sample submission: valid every time, never a medal, never above the median.
    overall = figures_of(evaluation)
    assert (overall.competitions, overall.seeds) == (1, 3)
    for name in ("any_medal", "gold_medal", "silver_medal", "bronze_medal", "above_median"):
        assert getattr(overall, name).mean == 0.0 and getattr(overall, name).standard_error == 0.0
    for name in ("valid_submission", "submission_exists"):
        figure = getattr(overall, name)
        assert (figure.mean, figure.standard_error, figure.ci_lower, figure.ci_upper) == (100.0, 0.0, 100.0, 100.0)
    assert [f.group for f in evaluation.figures] == ["all", "low"]
    (digits,) = evaluation.competitions
    assert digits.competition_id == "demo-digits" and digits.scored == 3 and digits.HasField("score_mean")
    assert digits.score_std == pytest.approx(0.0, abs=1e-9)  # the same sample submission each seed
    # Events: gap-free seqs, the last one announcing the end with the final counts.
    assert [e.seq for e in events] == list(range(1, len(events) + 1)) == list(range(1, evaluation.last_seq + 1))
    assert events[-1].state == EvaluationState.EVALUATION_STATE_SUCCEEDED and events[-1].progress.done == 3


async def test_the_evaluations_runs_are_ordinary_runs_with_their_seed(
    client: GatewayClient, dummy_evaluation: tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]]
) -> None:
    evaluation, _ = dummy_evaluation
    assert [(c.competition_id, c.seed) for c in evaluation.runs] == [("demo-digits", s) for s in (1, 2, 3)]
    listed = {r.run_id for r in (await client.list_runs(page_size=1000)).runs}
    for cell in evaluation.runs:
        assert cell.done and cell.attempts == 1 and not cell.retried_run_ids and not cell.system_failure
        run = await client.get_run(cell.run_id)
        assert run.run_id in listed
        assert run.state == RunState.RUN_STATE_SUCCEEDED and run.env["SEED"] == str(cell.seed)
        assert run.image == evaluation.image
        assert cell.report.valid_submission and cell.report.score == run.report.score
        assert cell.wall_seconds > 0
        events = [e async for e in client.watch(cell.run_id, follow=False)]
        assert any(e.HasField("report") for e in events)  # tail-able like any run


async def test_watching_an_evaluation_resumes_from_a_seq(
    client: GatewayClient, dummy_evaluation: tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]]
) -> None:
    evaluation, events = dummy_evaluation
    again = [e async for e in client.watch_evaluation(evaluation.evaluation_id, from_seq=3)]
    assert [e.SerializeToString() for e in again] == [e.SerializeToString() for e in events[2:]]
    listed = await client.list_evaluations()
    found = next(e for e in listed.evaluations if e.evaluation_id == evaluation.evaluation_id)
    assert not found.runs and not found.competitions and found.figures  # a list shows figures, not cells


async def test_the_export_reads_back_to_the_evaluations_figures(
    tmp_path: Path, dummy_evaluation: tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]]
) -> None:
    evaluation, _ = dummy_evaluation
    aggregate = aggregate_from(evaluation)
    paths = write_mlebench(tmp_path, aggregate, reports_from(evaluation), directions(evaluation))
    assert len(paths) == 3
    seed1 = json.loads(paths[0].read_text())
    assert seed1["total_runs"] == 1 and seed1["total_valid_submissions"] == 1 and seed1["total_medals"] == 0
    (report,) = seed1["competition_reports"]
    assert report["competition_id"] == "demo-digits" and report["gold_threshold"] is not None
    served = figures_of(evaluation)
    for figure in FIGURES:
        assert aggregate.group().figures[figure].mean == getattr(served, figure).mean
    rows = run_rows(evaluation)
    assert [r.state for r in rows] == ["SUCCEEDED"] * 3 and all(r.valid_submission for r in rows)


async def test_system_failures_are_retried_and_reported_apart(client: GatewayClient) -> None:
    created = await client.create_evaluation(
        "mleredux-agent-nonexistent:v0", competition_ids=["demo-digits"], seeds=1, max_attempts=2
    )
    await watch_to_end(client, created.evaluation_id)
    evaluation = await client.get_evaluation(created.evaluation_id)
    assert evaluation.state == EvaluationState.EVALUATION_STATE_SUCCEEDED
    (cell,) = evaluation.runs
    assert cell.attempts == 2 and len(cell.retried_run_ids) == 1 and cell.system_failure
    assert cell.failure_reason == Reason.FAILURE_REASON_IMAGE_MISSING
    first = await client.get_run(cell.retried_run_ids[0])
    assert first.failure_reason == Reason.FAILURE_REASON_IMAGE_MISSING and first.env["SEED"] == "1"
    progress = evaluation.progress
    assert (progress.system_failures, progress.agent_failures, progress.retries, progress.done) == (1, 0, 1, 1)
    assert figures_of(evaluation).submission_exists.mean == 0.0  # counted as the zero report
    assert "1 system failures (1 retries)" in evaluation.message
    # eval resume runs the system failures again, with max_attempts afresh; they fail the same way here.
    resumed = await client.resume_evaluation(created.evaluation_id)
    assert (
        resumed.state == EvaluationState.EVALUATION_STATE_RUNNING
        and resumed.progress.queued + resumed.progress.running == 1
    )
    await watch_to_end(client, created.evaluation_id)
    (cell,) = (await client.get_evaluation(created.evaluation_id)).runs
    assert cell.attempts == 2 and len(cell.retried_run_ids) == 3 and cell.system_failure


async def test_only_ended_evaluations_with_something_to_rerun_resume(
    client: GatewayClient, dummy_evaluation: tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]]
) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.resume_evaluation(dummy_evaluation[0].evaluation_id)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "no system failures or cancelled runs" in str(caught.value)


async def test_agent_failures_stand(client: GatewayClient) -> None:
    created = await client.create_evaluation(
        "dummy", competition_ids=["demo-digits"], seeds=2, env={"DUMMY_SKIP_SUBMISSION": "1"}
    )
    await watch_to_end(client, created.evaluation_id)
    evaluation = await client.get_evaluation(created.evaluation_id)
    assert [c.attempts for c in evaluation.runs] == [1, 1]
    assert all(
        c.failure_reason == Reason.FAILURE_REASON_NO_SUBMISSION and not c.system_failure for c in evaluation.runs
    )
    assert (evaluation.progress.agent_failures, evaluation.progress.retries) == (2, 0)
    assert figures_of(evaluation).valid_submission.mean == 0.0


async def test_cancelling_an_evaluation_stops_its_runs(client: GatewayClient) -> None:
    created = await client.create_evaluation(
        "dummy", competition_ids=["demo-digits"], seeds=4, concurrency=1, env={"DUMMY_SLEEP": "60"}
    )
    cancelled = await client.cancel_evaluation(created.evaluation_id)
    assert cancelled.state == EvaluationState.EVALUATION_STATE_CANCELLED
    assert cancelled.progress.done == 4 and cancelled.progress.running == 0 and cancelled.progress.queued == 0
    started = [c for c in cancelled.runs if c.run_id]
    assert len(started) == 1  # the concurrency cap: one run at a time
    run = await client.get_run(started[0].run_id)
    assert run.state == RunState.RUN_STATE_CANCELLED
    events = await watch_to_end(client, created.evaluation_id)  # an ended evaluation's stream ends
    assert events[-1].state == EvaluationState.EVALUATION_STATE_CANCELLED
    stored = await client.get_evaluation(created.evaluation_id)
    assert all(c.done for c in stored.runs)


@pytest.mark.parametrize(
    "kwargs,code,message",
    [
        ({"split": "huge", "seeds": 1}, grpc.StatusCode.INVALID_ARGUMENT, "unknown split 'huge'"),
        ({"competition_ids": ["demo-digts"], "seeds": 1}, grpc.StatusCode.NOT_FOUND, "Did you mean 'demo-digits'"),
        (
            {"competition_ids": ["demo-digits"], "seeds": 0},
            grpc.StatusCode.INVALID_ARGUMENT,
            "seeds must be at least 1",
        ),
        ({"competition_ids": ["demo-digits"], "seeds": 401}, grpc.StatusCode.INVALID_ARGUMENT, "at most 400"),
        ({"split": "high", "seeds": 1}, grpc.StatusCode.INVALID_ARGUMENT, "split 'high' has 15 competition(s)"),
        (
            {"competition_ids": ["spaceship-titanic"], "seeds": 1},
            grpc.StatusCode.INVALID_ARGUMENT,
            "not supported yet (no preparation or grader module): spaceship-titanic",
        ),
        (
            {"split": "demo", "competition_ids": ["demo-digits"], "seeds": 1},
            grpc.StatusCode.INVALID_ARGUMENT,
            "not both",
        ),
        ({"seeds": 1}, grpc.StatusCode.INVALID_ARGUMENT, "a competition set is required"),
        (
            {"competition_ids": ["demo-digits", "demo-digits"], "seeds": 1},
            grpc.StatusCode.INVALID_ARGUMENT,
            "more than once",
        ),
        (
            {"competition_ids": ["demo-digits"], "seeds": 1, "concurrency": 65},
            grpc.StatusCode.INVALID_ARGUMENT,
            "between 1 and 64",
        ),
        (
            {"competition_ids": ["demo-digits"], "seeds": 1, "max_attempts": 9},
            grpc.StatusCode.INVALID_ARGUMENT,
            "max_attempts",
        ),
        (
            {"competition_ids": ["demo-digits"], "seeds": 1, "env": {"SEED": "4"}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "env.SEED",
        ),
        ({"competition_ids": ["demo-digits"], "seeds": 1, "name": "n" * 201}, grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ],
)
async def test_bad_input_is_refused_at_create_time(
    client: GatewayClient, kwargs: dict[str, object], code: grpc.StatusCode, message: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation("dummy", **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code, str(caught.value)
    assert message in str(caught.value)


async def test_an_unknown_agent_is_refused_at_create_time(client: GatewayClient) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.create_evaluation("no-such-agent", competition_ids=["demo-digits"], seeds=1)
    # Resolved as CreateRun resolves it, in the caller's namespace: an agent nobody has is not found.
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "no agent 'no-such-agent'" in str(caught.value)


async def test_another_users_evaluation_is_invisible(
    stack: EmbeddedStack,
    client: GatewayClient,
    dummy_evaluation: tuple[gateway_pb2.Evaluation, list[gateway_pb2.EvaluationEvent]],
) -> None:
    evaluation, _ = dummy_evaluation
    bob = await client.create_token("bob-evals", "test")
    async with GatewayClient(stack.gateway_address, bob.token) as other:
        with pytest.raises(GatewayError) as caught:
            await other.get_evaluation(evaluation.evaluation_id)
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(GatewayError) as caught:
            await other.cancel_evaluation(evaluation.evaluation_id)
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        assert not (await other.list_evaluations()).evaluations


async def test_an_evaluations_runs_record_the_agent_as_create_run_does(client: GatewayClient, tmp_path: Path) -> None:
    """Issue 16: an evaluation's runs carry the agent's resource, digest and manifest, exactly as CreateRun's."""
    folder = tmp_path / "evalprobe"
    folder.mkdir()
    (folder / "run.sh").write_text(
        'echo "evalprobe: $PROBE_NOTE, seed $SEED"\n'
        f"cp /home/data/sample_submission.csv $SUBMISSION_DIR/submission.csv\n# {folder}\n"
    )
    # The image's own CMD fails: only the manifest's command makes a submission.
    (folder / "Dockerfile").write_text(
        'FROM mleredux-base-busybox:latest\nCOPY run.sh /agent/run.sh\nCMD ["/bin/false"]\n'
    )
    (folder / "agent.toml").write_text(
        'command = ["/bin/sh", "/agent/run.sh"]\n[env]\nPROBE_NOTE = "from the manifest"\n'
        "[compute]\ntime_limit_seconds = 321\n"
    )
    created = await client.create_agent("evalprobe", directory=folder)
    agent = None
    async for message in client.watch_agent_build(created.name):
        if message.HasField("agent"):
            agent = message.agent
    assert agent is not None and agent.build_state == gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY, agent
    assert agent.digest.startswith("sha256:")

    started = await client.create_evaluation("evalprobe", competition_ids=["demo-digits"], seeds=2)
    assert (started.agent_resource, started.agent_digest) == (agent.name, agent.digest)
    await watch_to_end(client, started.evaluation_id)
    evaluation = await client.get_evaluation(started.evaluation_id)
    assert evaluation.progress.succeeded == 2, evaluation.message
    single = await client.create_run("demo-digits", "evalprobe")
    async for _ in client.watch(single.run_id):
        pass
    by_create_run = await client.get_run(single.run_id)
    for cell in evaluation.runs:
        run = await client.get_run(cell.run_id)
        assert (run.agent_resource, run.agent_digest, run.image) == (agent.name, agent.digest, agent.image)
        assert run.agent_manifest == by_create_run.agent_manifest and list(run.agent_manifest.command)
        assert run.env["PROBE_NOTE"] == "from the manifest" and run.env["SEED"] == str(cell.seed)
        assert run.compute.time_limit_seconds == 321 == by_create_run.compute.time_limit_seconds
        assert cell.report.agent_digest == agent.digest and cell.report.agent == agent.name
        report = json.loads(await client.get_artifact(run.run_id, "report.json"))
        assert report["agent_digest"] == agent.digest == by_create_run.report.agent_digest
        lines = [e.log_line.text async for e in client.watch(run.run_id, follow=False) if e.HasField("log_line")]
        assert f"evalprobe: from the manifest, seed {cell.seed}" in lines


async def test_a_watch_from_a_resume_follows_the_resumed_evaluation(client: GatewayClient) -> None:
    created = await client.create_evaluation(
        "dummy", competition_ids=["demo-digits"], seeds=1, env={"DUMMY_SLEEP": "60"}
    )
    await client.cancel_evaluation(created.evaluation_id)
    # Each round: the watch opened at once from the resume's answer must see the resumed evaluation
    # running (it once ended at once: the resume's RUNNING was not yet committed) and then its cancel.
    for _ in range(3):
        resumed = await client.resume_evaluation(created.evaluation_id)
        assert resumed.state == EvaluationState.EVALUATION_STATE_RUNNING, (_, resumed.runs, resumed.message)
        seen: list[gateway_pb2.EvaluationEvent] = []
        async for event in client.watch_evaluation(created.evaluation_id, from_seq=resumed.last_seq):
            seen.append(event)
            if len(seen) == 1:
                assert event.state == EvaluationState.EVALUATION_STATE_RUNNING, event
                await client.cancel_evaluation(created.evaluation_id)
        assert seen[-1].state == EvaluationState.EVALUATION_STATE_CANCELLED
