"""One report, one shape: a real run's report.json, `mleredux grade-sample` and `mleredux grade` on the
same submission, GetRun's report and the HTTP API's report carry the same fields with the same JSON
types (integers are numbers); and the compute profile in all of them is the one the container really
ran with, the runner's defaults filled in, never zeros.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.grading.report import report_json
from mleredux.proto_json import to_json
from mleredux.v1 import common_pb2
from services.runner.servicer import RunnerSettings

RunState = common_pb2.RunState
#: The runner's default time limit, which the embedded stack does not change.
DEFAULT_TIME_LIMIT = RunnerSettings.default_time_limit_seconds


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", dict: "object", list: "array", type(None): "null"}[type(value)]


def _assert_same_shape(ours: dict[str, Any], theirs: dict[str, Any], where: str = "report") -> None:
    """Same keys in the same order, and the same JSON type for every value, recursively (a float that
    happens to be integral is still a number: the writer decides, not the value)."""
    assert list(ours) == list(theirs), f"{where}: fields differ: {list(ours)} vs {list(theirs)}"
    for key in ours:
        a, b = ours[key], theirs[key]
        assert _json_type(a) == _json_type(b), f"{where}.{key}: {_json_type(a)} {a!r} vs {_json_type(b)} {b!r}"
        if isinstance(a, dict):
            _assert_same_shape(a, b, f"{where}.{key}")


@pytest.fixture(scope="module")
async def default_profile_run(stack: EmbeddedStack) -> tuple[Any, list[common_pb2.RunEvent], dict[str, Any]]:
    """A dummy run that asks for no compute at all (every limit the runner's default) and prints the
    limits the kernel enforces on its container."""
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run("demo-digits", "dummy", env={"DUMMY_LIMITS": "1"})
        assert not run.compute.cpus and not run.compute.memory_bytes  # nothing was asked for
        events = [event async for event in client.watch(run.run_id)]
        run = await client.get_run(run.run_id)
        report_file = json.loads(await client.get_artifact(run.run_id, "report.json"))
    return run, events, report_file


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mleredux", *args], capture_output=True, text=True, timeout=300, check=False
    )


async def test_report_json_grade_and_get_run_have_one_shape(  # type: ignore[no-untyped-def]
    stack: EmbeddedStack, default_profile_run, data_dir: Path, tmp_path: Path
) -> None:
    run, _, report_file = default_profile_run
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    # GetRun's report, through the one writer, is report.json exactly (integers as numbers).
    assert report_json(run.report) == report_file
    assert isinstance(report_file["compute_profile"]["memory_bytes"], int)
    # The HTTP API's report is the same document.
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://{stack.http_address}/v1/runs/{run.run_id}",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        ) as answer,
    ):
        http_run = json.loads(await answer.read())
    assert http_run["report"] == report_file
    assert http_run["compute"] == report_file["compute_profile"]

    # `mleredux grade-sample` and `mleredux grade` on the same submission, outside any run.
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        submission = tmp_path / "submission.csv"
        submission.write_bytes(await client.get_artifact(run.run_id, "submission/submission.csv"))
    sample = _cli("grade-sample", str(submission), "demo-digits", "--data-dir", str(data_dir))
    assert sample.returncode == 0, sample.stderr
    graded = json.loads(sample.stdout)
    (tmp_path / "batch.jsonl").write_text(
        json.dumps({"competition_id": "demo-digits", "submission_path": str(submission)}) + "\n"
    )
    batch = _cli(
        "grade", "--submission", str(tmp_path / "batch.jsonl"), "--output-dir", str(tmp_path / "out"),
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    [batch_file] = (tmp_path / "out").glob("*_grading_report.json")
    [batch_report] = json.loads(batch_file.read_text())["competition_reports"]

    for other in (graded, batch_report):
        _assert_same_shape(report_file, other)
        # And the same grade: only when, where from, on what hardware and by which agent differ
        # (a submission graded outside a run has no agent).
        outside_a_run = {"agent", "agent_image", "agent_digest", "agent_commit"}
        for key in report_file.keys() - {"created_at", "submission_path", "compute_profile", *outside_a_run}:
            assert other[key] == report_file[key], key
    assert graded["compute_profile"] == {key: type(value)() for key, value in report_file["compute_profile"].items()}


async def test_a_default_profile_run_reports_the_limits_it_ran_with(default_profile_run) -> None:  # type: ignore[no-untyped-def]
    run, events, report_file = default_profile_run
    printed = next(e.log_line.text for e in events if e.HasField("log_line") and e.log_line.text.startswith("limits:"))
    limits = dict(item.split("=", 1) for item in printed.removeprefix("limits: ").split())
    quota, period = (int(x) for x in limits["cpu"].split("/"))
    enforced = {
        "cpus": quota / period,
        "memory_bytes": int(limits["memory"]),
        "pids_limit": int(limits["pids"]),
        "shm_bytes": int(limits["shm-kb"]) * 1024,
    }
    profile = report_file["compute_profile"]
    for name, value in enforced.items():
        assert value > 0 and profile[name] == pytest.approx(value), (name, profile, printed)
    assert profile["time_limit_seconds"] == DEFAULT_TIME_LIMIT > 0
    assert profile["gpus"] == 0 and profile["gpu_model"] == ""
    # The same profile on the run itself (GetRun) and on the RUNNING status change.
    assert report_json(run.report)["compute_profile"] == profile
    running = [
        e.status_change
        for e in events
        if e.HasField("status_change") and e.status_change.state == RunState.RUN_STATE_RUNNING
    ]
    assert running and all(to_json(change.compute) == profile for change in running)
