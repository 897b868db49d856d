"""Bring your own agent: `mleredux agents add DIR` builds a Dockerfile on our base image, `agents list`
shows it, and a run by its name goes through the whole stack."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2

AGENT = """\
import os, shutil, json
data = "/home/data"
sample = next(n for n in sorted(os.listdir(data)) if n.startswith("sample"))
shutil.copy(os.path.join(data, sample), "/home/submission/submission.csv")
with open("/home/logs/rollout.jsonl", "a") as log:
    log.write(json.dumps({"step": 1, "kind": "plan", "payload": {"text": "copy the sample"}}) + "\\n")
print("my-agent: submitted", sample)
"""


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mleredux", "--home", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def _remove_images(name: str) -> None:
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"mleredux-agent-{name}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "image", "rm", "-f", *listed], capture_output=True)


@pytest.fixture(scope="module")
def my_agent(
    tmp_path_factory: pytest.TempPathFactory, baseline_image: str
) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    del baseline_image  # its base is what the Dockerfile builds on
    _remove_images("copy-sample-agent")  # a build from an earlier session would make this one a no-op
    directory = tmp_path_factory.mktemp("agents") / "copy-sample-agent"
    directory.mkdir()
    (directory / "agent.py").write_text(AGENT)
    dockerfile = ["FROM mleredux-base-python:latest", "COPY agent.py /home/agent/agent.py"]
    dockerfile.append('CMD ["python3", "/home/agent/agent.py"]')
    (directory / "Dockerfile").write_text("\n".join(dockerfile) + "\n")
    added = _cli(tmp_path_factory.mktemp("home"), "agents", "add", str(directory))
    try:
        yield directory.name, added
    finally:
        _remove_images(directory.name)


def test_agents_add_streams_the_build_and_agents_list_shows_it(my_agent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, added = my_agent
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Step 2/4 : COPY agent.py" in added.stdout and f"agent {name}: mleredux-agent-{name}:" in added.stdout
    listed = _cli(tmp_path, "agents", "list")
    assert listed.returncode == 0
    assert any(line.startswith(name) and "added" in line for line in listed.stdout.splitlines()), listed.stdout
    again = _cli(tmp_path, "agents", "add", str(Path(added.args[-1])))
    assert again.returncode == 0 and "up to date" in again.stdout


async def test_an_added_agent_runs_by_name(my_agent, stack: EmbeddedStack) -> None:  # type: ignore[no-untyped-def]
    name, added = my_agent
    assert added.returncode == 0, added.stderr
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run("demo-digits", name)
        events = [event async for event in client.watch(run.run_id)]
        final = await client.get_run(run.run_id)
    assert final.state == common_pb2.RunState.RUN_STATE_SUCCEEDED, final.message
    assert final.image.startswith(f"mleredux-agent-{name}:")
    assert any(e.HasField("log_line") and "my-agent: submitted" in e.log_line.text for e in events)


@pytest.mark.subprocess
def test_bad_agent_directories_get_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _cli(tmp_path, "agents", "add", str(empty))
    assert result.returncode != 0 and "has no Dockerfile" in result.stderr and "Traceback" not in result.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["true"]\n')
    result = _cli(tmp_path, "agents", "add", str(foreign))
    assert result.returncode != 0 and "python:3.12-slim" in result.stderr and "cannot pull" in result.stderr
