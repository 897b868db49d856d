"""Technique tasks run like competitions: `CreateRun(task=...)` prepares the derived dataset, the
baseline agent analyses it in its container, the grader scores the analysis against the planted
truth, and the analysis and per-item grading are artifacts and rollout events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.proto_json import struct_to_python
from mleredux.v1 import common_pb2, gateway_pb2

RunState = common_pb2.RunState
TASKS = ("imbalance", "missing", "encoding", "cv", "scaling", "leakage")
SOURCE = "demo-digits"


async def _run_to_end(gateway: GatewayClient, task: str) -> tuple[gateway_pb2.Run, list[common_pb2.RunEvent], set[str]]:
    run = await gateway.create_run(SOURCE, "baseline", task=task)
    events = [event async for event in gateway.watch(run.run_id)]
    artifacts = {a.name for a in await gateway.list_artifacts(run.run_id)}
    return await gateway.get_run(run.run_id), events, artifacts


@pytest.fixture(scope="module")
async def technique_runs(stack: EmbeddedStack, baseline_image: str):  # type: ignore[no-untyped-def]
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        results = await asyncio.gather(*(_run_to_end(gateway, task) for task in TASKS))
    return dict(zip(TASKS, results, strict=True))


@pytest.mark.parametrize("task", TASKS)
async def test_the_baseline_completes_each_task_end_to_end(technique_runs, task: str) -> None:  # type: ignore[no-untyped-def]
    run, events, artifacts = technique_runs[task]
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    assert run.task == task
    report = run.report
    assert report.submission_exists and report.valid_submission, report.invalid_reason
    # The baseline detects the planted traps with real code; on the demo it finds most of them.
    assert report.score > 0.5, (task, report.score)
    assert f"submission/{task}_analysis.json" in artifacts and "report.json" in artifacts
    details = struct_to_python(report.details)
    grading = [e.rollout for e in events if e.HasField("rollout") and e.rollout.kind == "technique_grading"]
    assert len(grading) == 1 and struct_to_python(grading[0].payload) == details
    agent_kinds = {e.rollout.kind for e in events if e.HasField("rollout")}
    assert "validation" in agent_kinds, agent_kinds  # the analysis went through the grader socket
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_an_unknown_task_is_refused_before_queueing(stack: EmbeddedStack) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        with pytest.raises(GatewayError) as caught:
            await gateway.create_run(SOURCE, "dummy", task="overfitting")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "leakage" in str(caught.value) and "overfitting" in str(caught.value)


def test_run_cli_takes_a_task(stack: EmbeddedStack, technique_runs) -> None:  # type: ignore[no-untyped-def]
    # The dataset is prepared already (the runs above), so this is the CLI path only.
    command = [sys.executable, "-m", "mleredux", "run", "--task", "scaling", "--competition", SOURCE]
    command += ["--agent", "baseline", "--gateway", stack.gateway_address]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MLEREDUX_TOKEN": stack.admin_token, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "technique_grading" in result.stdout
