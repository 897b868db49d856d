"""End to end through the real services (separate processes), the real Docker engine and the dummy agent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import grpc
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.proto_json import struct_to_python, to_json
from mleredux.v1 import common_pb2, gateway_pb2
from tests.conftest import containers_of, project_containers

RunState = common_pb2.RunState
Reason = common_pb2.FailureReason
STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT
STDERR = common_pb2.LogStream.LOG_STREAM_STDERR


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        yield gateway


async def run_to_end(
    client: GatewayClient, agent: str = "dummy", **kwargs: object
) -> tuple[gateway_pb2.Run, list[common_pb2.RunEvent]]:
    run = await client.create_run("demo-digits", agent, **kwargs)  # type: ignore[arg-type]
    events = [event async for event in client.watch(run.run_id)]
    return await client.get_run(run.run_id), events


def lines(events: list[common_pb2.RunEvent], stream: int) -> list[str]:
    return [e.log_line.text for e in events if e.HasField("log_line") and e.log_line.stream == stream]


@pytest.fixture(scope="module")
async def demo_run(stack: EmbeddedStack) -> tuple[gateway_pb2.Run, list[common_pb2.RunEvent]]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        return await run_to_end(gateway)


@pytest.mark.parametrize(
    "service,name",
    [
        ("preparer", "mleredux.v1.PreparerService"),
        ("runner", "mleredux.v1.RunnerService"),
        ("grader", "mleredux.v1.GraderService"),
        ("gateway", "mleredux.v1.GatewayService"),
    ],
)
async def test_each_service_serves_reflection_and_health(stack: EmbeddedStack, service: str, name: str) -> None:
    async with grpc.aio.insecure_channel(stack.services[service].address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        listed = [
            s.name
            async for response in stub.ServerReflectionInfo(ask())
            for s in response.list_services_response.service
        ]
        assert name in listed and "grpc.health.v1.Health" in listed
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=name))
        assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_demo_run_succeeds_with_the_sample_score(demo_run, data_dir) -> None:  # type: ignore[no-untyped-def]
    run, events = demo_run
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    # The event log is gap-free and ordered from 1.
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert run.last_seq == len(events)
    # States in order.
    states = [e.status_change.state for e in events if e.HasField("status_change")]
    assert states == [
        RunState.RUN_STATE_QUEUED,
        RunState.RUN_STATE_PREPARING,
        RunState.RUN_STATE_RUNNING,
        RunState.RUN_STATE_GRADING,
        RunState.RUN_STATE_SUCCEEDED,
    ]
    # The report is valid and scores what the sample submission (all zeros) must score.
    answers = pd.read_csv(data_dir / "demo-digits" / "prepared" / "private" / "test.csv")
    expected = float((answers["label"] == 0).mean())
    reports = [e.report for e in events if e.HasField("report")]
    assert len(reports) == 1
    report = reports[0]
    assert report.valid_submission and report.submission_exists
    # At the leaderboard's precision (5 decimals), as MLE-bench reports it.
    assert report.score == round(expected, 5)
    assert not report.any_medal and not report.is_lower_better
    assert report.HasField("median_threshold") and report.grader_version
    assert len(report.submission_sha256) == 64 and len(report.answers_sha256) == 64
    assert run.report == report


async def test_stdout_stderr_and_rollout_arrive_apart(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, events = demo_run
    out, err = lines(events, STDOUT), lines(events, STDERR)
    assert any(line.startswith("dummy-agent stdout:") for line in out)
    assert any(line.startswith("dummy-agent stderr:") for line in err)
    assert not any(line.startswith("dummy-agent stderr:") for line in out)
    assert not any(line.startswith("dummy-agent stdout:") for line in err)
    rollouts = [e.rollout for e in events if e.HasField("rollout")]
    plans = [r for r in rollouts if r.kind == "plan"]
    assert len(plans) == 1 and plans[0].step == 1
    assert struct_to_python(plans[0].payload) == {"text": "copy the sample submission"}
    validations = [struct_to_python(r.payload) for r in rollouts if r.kind == "validation"]
    assert len(validations) == 1 and validations[0]["valid"] is True
    assert any(line.startswith('validation: {"valid": true') for line in out)


async def test_sandbox_has_only_loopback_and_no_answers(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, events = demo_run
    out = lines(events, STDOUT)
    assert "interfaces: lo" in out
    assert "answers: absent" in out
    assert "data-write: refused" in out
    assert any("uid=65534" in line for line in out)


async def test_artifacts_are_stored_and_no_container_remains(demo_run, client: GatewayClient) -> None:  # type: ignore[no-untyped-def]
    run, events = demo_run
    names = {a.name for a in await client.list_artifacts(run.run_id)}
    assert {"submission/submission.csv", "code/solution.sh", "rollout.jsonl", "events.jsonl", "report.json"} <= names
    stored = {e.artifact_stored.name for e in events if e.HasField("artifact_stored")}
    assert {"submission/submission.csv", "code/solution.sh", "rollout.jsonl"} <= stored
    report = json.loads(await client.get_artifact(run.run_id, "report.json"))
    assert report["valid_submission"] is True and report["competition_id"] == "demo-digits"
    stored_events = (await client.get_artifact(run.run_id, "events.jsonl")).decode().splitlines()
    assert [json.loads(line) for line in stored_events] == [to_json(e) for e in events]
    assert not [c for c in project_containers() if run.run_id in c]
    assert containers_of(run.run_id) == []


async def test_watch_resumes_from_seq_without_gaps_or_duplicates(demo_run, client: GatewayClient) -> None:  # type: ignore[no-untyped-def]
    run, events = demo_run
    for start in (1, 4, len(events), len(events) + 1):
        replay = [e async for e in client.watch(run.run_id, from_seq=start)]
        assert [e.seq for e in replay] == list(range(start, len(events) + 1))
        assert replay == events[start - 1 :]


def test_tail_cli_replays_from_seq(demo_run, stack: EmbeddedStack) -> None:  # type: ignore[no-untyped-def]
    run, events = demo_run
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mleredux", "tail", run.run_id, "--from-seq", "3"),
            *("--gateway", stack.gateway_address, "--token", stack.admin_token),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seqs = [int(line[1:6]) for line in result.stdout.splitlines() if line.startswith("[")]
    assert seqs == list(range(3, len(events) + 1))


def test_run_cli_streams_live_and_prints_the_report(stack: EmbeddedStack) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mleredux",
            "run",
            "--competition",
            "demo-digits",
            "--agent",
            "dummy",
            "--gateway",
            stack.gateway_address,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        # The token from the environment, as a script in CI would pass it.
        env={**os.environ, "PYTHONUNBUFFERED": "1", "MLEREDUX_TOKEN": stack.admin_token},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stdout | dummy-agent stdout:" in result.stdout
    assert "stderr | dummy-agent stderr:" in result.stdout
    assert "rollout | step 1 plan:" in result.stdout
    start = result.stdout.index("{\n")
    report = json.loads(result.stdout[start : result.stdout.index("\n}\n", start) + 2])
    for field in (
        "competition_id",
        "score",
        "gold_threshold",
        "silver_threshold",
        "bronze_threshold",
        "median_threshold",
        "any_medal",
        "gold_medal",
        "silver_medal",
        "bronze_medal",
        "above_median",
        "submission_exists",
        "valid_submission",
        "is_lower_better",
        "created_at",
        "submission_path",
    ):
        assert field in report
    assert "SUCCEEDED" in result.stdout


async def test_unknown_competition_is_refused_with_the_known_ids(client: GatewayClient) -> None:
    with pytest.raises(GatewayError) as caught:
        await client.create_run("demo-digts", "dummy")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "demo-digits" in str(caught.value)


async def test_missing_image_fails_as_a_system_fault(client: GatewayClient) -> None:
    run, _ = await run_to_end(client, agent="mleredux-agent-nonexistent:v0")
    assert run.state == RunState.RUN_STATE_FAILED
    assert run.failure_reason == Reason.FAILURE_REASON_IMAGE_MISSING
    assert "never pulled" in run.message


async def test_nonzero_exit_still_grades_the_submission(client: GatewayClient) -> None:
    run, events = await run_to_end(client, env={"DUMMY_EXIT": "3"})
    assert run.state == RunState.RUN_STATE_SUCCEEDED
    codes = [
        e.status_change.exit_code
        for e in events
        if e.HasField("status_change") and e.status_change.HasField("exit_code")
    ]
    assert codes == [3]


@pytest.mark.parametrize(
    "env,reason",
    [
        ({"DUMMY_SKIP_SUBMISSION": "1"}, Reason.FAILURE_REASON_NO_SUBMISSION),
        ({"DUMMY_SKIP_SUBMISSION": "1", "DUMMY_EXIT": "3"}, Reason.FAILURE_REASON_AGENT_ERROR),
    ],
)
async def test_no_submission_is_the_agents_fault(client: GatewayClient, env: dict[str, str], reason: int) -> None:
    run, _ = await run_to_end(client, env=env)
    assert run.state == RunState.RUN_STATE_FAILED
    assert run.failure_reason == reason
    report = run.report
    assert not report.submission_exists and not report.valid_submission and not report.HasField("score")
