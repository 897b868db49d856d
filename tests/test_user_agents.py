"""Bring your own agent through the gateway: `mleredux agents add DIR` sends a folder with a Dockerfile
on our Python base to the service, the runner builds it, `agents list` shows it, an identical folder
builds once, and a run by its name goes through the whole stack. (The in-process `agents add` of
earlier versions is gone: agents are resources of the service now, see tests/test_agents_api.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
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


def _cli(home: Path, stack: EmbeddedStack, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mleredux", "--home", str(home), *args]
    command += ["--gateway", stack.gateway_address, "--token", token]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def user_token(stack: EmbeddedStack) -> str:
    command = [sys.executable, "-m", "mleredux", "tokens", "create", "--user", "agent-author"]
    created = subprocess.run(
        [*command, "--gateway", stack.gateway_address, "--token", stack.admin_token],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.split()[-1]


@pytest.fixture(scope="module")
def my_agent(
    tmp_path_factory: pytest.TempPathFactory, baseline_image: str, stack: EmbeddedStack, user_token: str
) -> Iterator[tuple[str, Path, subprocess.CompletedProcess[str]]]:
    del baseline_image  # its base is what the Dockerfile builds on
    directory = tmp_path_factory.mktemp("agents") / "copy-sample-agent"
    directory.mkdir()
    # The folder's path makes the content new to this session, so it is built, not reused.
    # Unique to this call: the engine keeps images across test runs, and tmp paths repeat once old
    # ones are removed, so a context named only by its path could be "reused" instead of built.
    (directory / "agent.py").write_text(AGENT + f"# from {directory}, {uuid.uuid4().hex}\n")
    dockerfile = ["FROM mleredux-base-python:latest", "COPY agent.py /home/agent/agent.py"]
    dockerfile.append('CMD ["python3", "/home/agent/agent.py"]')
    (directory / "Dockerfile").write_text("\n".join(dockerfile) + "\n")
    added = _cli(tmp_path_factory.mktemp("home"), stack, user_token, "agents", "add", str(directory))
    yield directory.name, directory, added


def test_agents_add_streams_the_build_and_agents_list_shows_it(  # type: ignore[no-untyped-def]
    my_agent, stack: EmbeddedStack, user_token: str, tmp_path: Path
) -> None:
    name, directory, added = my_agent
    assert added.returncode == 0, added.stdout + added.stderr
    assert "COPY agent.py" in added.stdout and f"agent users/agent-author/agents/{name}: sha256:" in added.stdout
    listed = _cli(tmp_path, stack, user_token, "agents", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith(f"users/agent-author/agents/{name} ") and "ready" in line for line in lines), lines
    assert any(line.startswith("builtin/dummy ") for line in lines)
    # The same content under another name is not built again: the image is content-addressed.
    twin = tmp_path / "twin"
    shutil.copytree(directory, twin)
    again = _cli(tmp_path, stack, user_token, "agents", "add", str(twin), "--name", "twin")
    assert again.returncode == 0 and "reused: same context" in again.stdout, again.stdout + again.stderr
    removed = _cli(tmp_path, stack, user_token, "agents", "rm", "twin")
    assert removed.returncode == 0 and "deleted" in removed.stdout


async def test_an_added_agent_runs_by_name(my_agent, stack: EmbeddedStack, user_token: str) -> None:  # type: ignore[no-untyped-def]
    name, _, added = my_agent
    assert added.returncode == 0, added.stderr
    async with GatewayClient(stack.gateway_address, user_token) as client:
        run = await client.create_run("demo-digits", name)
        events = [event async for event in client.watch(run.run_id)]
        final = await client.get_run(run.run_id)
        agent = await client.get_agent(name)
    assert final.state == common_pb2.RunState.RUN_STATE_SUCCEEDED, final.message
    assert final.image == agent.image and final.image.startswith("mleredux-user-agent:")
    assert final.agent_digest == agent.digest
    assert any(e.HasField("log_line") and "my-agent: submitted" in e.log_line.text for e in events)


def test_bad_agent_directories_get_clear_errors(stack: EmbeddedStack, user_token: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _cli(tmp_path, stack, user_token, "agents", "add", str(empty))
    assert result.returncode != 0 and "has no Dockerfile" in result.stderr and "Traceback" not in result.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["true"]\n')
    result = _cli(tmp_path, stack, user_token, "agents", "add", str(foreign))
    assert result.returncode != 0 and "python:3.12-slim is not one of our bases" in result.stderr
    assert "nothing is pulled" in result.stderr and "Traceback" not in result.stderr
