"""The baseline agent (agent_images/baseline): on the host against data prepared from the Lite
generators, and in its image through the real embedded stack.

On the host the agent runs as a subprocess of the venv's Python with the container paths pointed at
temp dirs, and validates through a real validation socket answered by the grader's own format check.
Each submission must be valid and score strictly better than the competition's sample submission.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mleredux.client import GatewayClient
from mleredux.competitions import get_competition
from mleredux.embedded import EmbeddedStack
from mleredux.grading.submission import grade_submission, validate_submission
from mleredux.preparation.prepare import prepare_competition
from mleredux.proto_json import struct_to_python
from mleredux.v1 import common_pb2
from services.runner.validation_socket import ValidationAnswer, ValidationSocket
from tests.lite import all_specs

REPO = Path(__file__).resolve().parents[1]
AGENT = REPO / "agent_images" / "baseline" / "agent"
VALIDATE_SCRIPT = REPO / "agent_images" / "common" / "validate_submission.sh"
COMPETITIONS = [
    "demo-digits",
    "nomad2018-predict-transparent-conductors",
    "spooky-author-identification",
    "random-acts-of-pizza",
    "detecting-insults-in-social-commentary",
    "tabular-playground-series-dec-2021",
    "tabular-playground-series-may-2022",
]
SPECS = {spec.competition_id: spec for spec in all_specs()}

#: Every test here runs the agent as a process (on the host or in a container).
pytestmark = pytest.mark.subprocess
RunState = common_pb2.RunState


class GraderSocket:
    """A real validation socket (what the runner mounts into a container) on its own event loop,
    answered by the grader's format check against a prepared data dir."""

    def __init__(self, competition_id: str, data_dir: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mleredux-bl-"))  # short: unix socket paths are capped
        self.path = self.dir / "grader.sock"
        self.answers: list[ValidationAnswer] = []

        async def validate(body: Path) -> ValidationAnswer:
            content = await asyncio.to_thread(body.read_bytes)
            result = await asyncio.to_thread(validate_submission, content, competition_id, data_dir)
            return ValidationAnswer(valid=result.valid, message=result.message)

        self._socket = ValidationSocket(self.path, validate, lambda answer, *_: self.answers.append(answer))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> GraderSocket:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._socket.start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._socket.stop(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path
    events: list[dict[str, Any]]

    @property
    def submission(self) -> Path:
        return self.out / "submission" / "submission.csv"

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.events if e["kind"] == kind]


def run_agent(
    data: Path, out: Path, *, agent_dir: Path = AGENT, competition_id: str = "", extra: dict[str, str] | None = None
) -> AgentRun:
    for name in ("submission", "code", "logs"):
        (out / name).mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if k != "MLEREDUX_TASK"},
        "DATA_DIR": str(data),
        "SUBMISSION_DIR": str(out / "submission"),
        "CODE_DIR": str(out / "code"),
        "LOGS_DIR": str(out / "logs"),
        "COMPETITION_ID": competition_id,
        "TIME_LIMIT_SECS": "600",
        "MLEREDUX_VALIDATE_SCRIPT": str(VALIDATE_SCRIPT),
        "MLEREDUX_GRADER_SOCKET": str(out / "no-such-socket"),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the image's source dir
        **(extra or {}),
    }
    done = subprocess.run(
        [sys.executable, str(agent_dir / "main.py")], env=env, capture_output=True, text=True, timeout=600
    )
    rollout = out / "logs" / "rollout.jsonl"
    events = [json.loads(line) for line in rollout.read_text().splitlines()] if rollout.is_file() else []
    return AgentRun(done.returncode, done.stdout, done.stderr, out, events)


def prepare(competition_id: str, root: Path) -> Path:
    """The competition prepared under root/data from its Lite generator (demo-digits needs none)."""
    data_dir = root / "data"
    if competition_id == "demo-digits":
        prepare_competition(competition_id, data_dir)
    else:
        raw = root / "raw"
        raw.mkdir()
        SPECS[competition_id].write_raw(raw, np.random.default_rng(42))
        prepare_competition(competition_id, data_dir, raw=raw)
    return data_dir


@pytest.fixture(scope="module", params=COMPETITIONS)
def host_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, AgentRun, list[ValidationAnswer]]:
    competition_id: str = request.param
    root = tmp_path_factory.mktemp(competition_id)
    data_dir = prepare(competition_id, root)
    public = data_dir / competition_id / "prepared" / "public"
    with GraderSocket(competition_id, data_dir) as grader:
        run = run_agent(
            public, root / "out", competition_id=competition_id, extra={"MLEREDUX_GRADER_SOCKET": str(grader.path)}
        )
        answers = list(grader.answers)
    return competition_id, data_dir, run, answers


def test_submission_is_valid_and_beats_the_sample(host_run) -> None:  # type: ignore[no-untyped-def]
    competition_id, data_dir, run, _ = host_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    competition = get_competition(competition_id)
    report = grade_submission(run.submission, competition_id, data_dir)
    assert report.valid_submission, report.invalid_reason
    sample_path = data_dir / competition_id / "prepared" / "public" / competition.sample_submission_file
    sample = grade_submission(sample_path, competition_id, data_dir)
    assert report.score is not None and sample.score is not None
    if report.is_lower_better:
        assert report.score < sample.score, (report.score, sample.score)
    else:
        assert report.score > sample.score, (report.score, sample.score)
    # Same ids, same columns, same order as the sample.
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False}
    written, expected = pd.read_csv(run.submission, **options), pd.read_csv(sample_path, **options)
    assert list(written.columns) == list(expected.columns)
    assert written[competition.id_column].tolist() == expected[competition.id_column].tolist()


def test_rollout_records_plan_code_result_and_the_graders_answer(host_run) -> None:  # type: ignore[no-untyped-def]
    competition_id, _, run, answers = host_run
    kinds = run.kinds()
    assert {"plan", "code", "result", "validation"} <= set(kinds), kinds
    assert kinds.index("plan") < kinds.index("code") < kinds.index("result") < kinds.index("validation")
    assert [e["step"] for e in run.events] == list(range(1, len(run.events) + 1))
    assert not run.of("error")
    # The agent asked the grader once and recorded what the grader said.
    assert len(answers) == 1 and answers[0].valid, answers
    validation = run.of("validation")
    assert validation == [{"file": str(run.submission), "exit_code": 0, "valid": True, "message": answers[0].message}]
    # Model selection is on the record: a chosen candidate and every candidate's score.
    heads = [r for r in run.of("result") if "chosen" in r]
    assert heads and all("+".join(r["chosen"]) in r["scores"] for r in heads)
    # Every generated target carries signal except nomad2018's (uniform noise), where a constant may win.
    if competition_id != "nomad2018-predict-transparent-conductors":
        assert all(r["chosen"] != ["constant"] for r in heads), heads
    # Its code is kept.
    assert (run.out / "code" / "main.py").read_bytes() == (AGENT / "main.py").read_bytes()
    assert "main.py" in run.of("code")[0]["files"]


def _write_unfamiliar(data: Path) -> None:
    data.mkdir(parents=True)
    (data / "description.md").write_text("# Something new\nPredict `y` for each test row.\n")
    pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": [4, 5], "x": [0.4, 0.5]}).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"id": [4, 5], "y": [0.0, 0.0]}).to_csv(data / "sample_submission.csv", index=False)


def test_unfamiliar_data_falls_back_to_the_sample_and_says_so(tmp_path: Path) -> None:
    _write_unfamiliar(tmp_path / "data")
    run = run_agent(tmp_path / "data", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert run.submission.read_bytes() == (tmp_path / "data" / "sample_submission.csv").read_bytes()
    fallback = [r for r in run.of("result") if r.get("fallback")]
    assert (
        len(fallback) == 1 and "'y'" in fallback[0]["reason"] and "not in the training table" in fallback[0]["reason"]
    )
    # No grader socket here: the validation event says the grader could not be reached.
    (validation,) = run.of("validation")
    assert validation["valid"] is None and validation["exit_code"] == 2 and "cannot" in validation["message"]


def test_no_sample_submission_is_a_real_failure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write_unfamiliar(data)
    (data / "sample_submission.csv").unlink()
    run = run_agent(data, tmp_path / "out")
    assert run.returncode == 1
    assert not run.submission.exists()
    assert any("no sample submission" in e["message"] for e in run.of("error"))


def test_technique_task_without_the_techniques_module_fails_on_the_record(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    for path in AGENT.glob("*.py"):
        if path.name != "techniques.py":
            shutil.copy(path, agent / path.name)
    _write_unfamiliar(tmp_path / "data")
    run = run_agent(tmp_path / "data", tmp_path / "out", agent_dir=agent, extra={"MLEREDUX_TASK": "imbalance"})
    assert run.returncode != 0
    assert run.kinds()[0] == "plan" and "imbalance" in run.of("plan")[0]["text"]
    assert any("no techniques module" in e["message"] for e in run.of("error"))
    assert not run.submission.exists()


# -- in its image, through the real embedded stack ---------------------------------------------------


def test_image_runs_as_nobody_with_the_hosts_library_versions(baseline_image: str) -> None:
    import sklearn

    script = "import os, numpy, pandas, sklearn; print(os.getuid(), pandas.__version__, sklearn.__version__)"
    done = subprocess.run(
        ["docker", "run", "--rm", "--pull=never", "--network", "none", baseline_image, "python3", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["65534", pd.__version__, sklearn.__version__]


@pytest.fixture(scope="module")
async def baseline_demo_run(stack: EmbeddedStack, baseline_image: str):  # type: ignore[no-untyped-def]
    async with GatewayClient(stack.gateway_address, stack.admin_token) as gateway:
        run = await gateway.create_run("demo-digits", "baseline")
        events = [event async for event in gateway.watch(run.run_id)]
        artifacts = {a.name for a in await gateway.list_artifacts(run.run_id)}
        return await gateway.get_run(run.run_id), events, artifacts


async def test_baseline_beats_the_sample_on_demo_digits_end_to_end(baseline_demo_run, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    run, events, artifacts = baseline_demo_run
    assert run.state == RunState.RUN_STATE_SUCCEEDED, run.message
    report = run.report
    assert report.valid_submission and report.submission_exists
    answers = pd.read_csv(data_dir / "demo-digits" / "prepared" / "private" / "test.csv")
    sample_score = float((answers["label"] == 0).mean())
    assert report.score > sample_score + 0.5, (report.score, sample_score)

    rollouts = [e.rollout for e in events if e.HasField("rollout")]
    kinds = [r.kind for r in rollouts]
    assert {"plan", "code", "result", "validation"} <= set(kinds), kinds
    validations = [struct_to_python(r.payload) for r in rollouts if r.kind == "validation"]
    # The runner records the socket call and the agent records the answer it got: both say valid.
    assert validations and all(v["valid"] is True for v in validations)
    assert any(v.get("exit_code") == 0 for v in validations)
    assert "code/main.py" in artifacts and "submission/submission.csv" in artifacts
