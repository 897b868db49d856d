"""Another language, for real: the Node.js client in clients/node (grpc-js + proto-loader, loading
protos/ at run time) creates a run on the stack's gateway and follows WatchRun to the end."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2

CLIENT_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
SCRIPT = CLIENT_DIR / "run_and_watch.js"

pytestmark = pytest.mark.subprocess


def _node() -> str:
    node = shutil.which("node")
    assert node, "node is not installed (bash scripts/install.sh installs it)"
    assert (CLIENT_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(), (
        "clients/node has no node_modules (bash scripts/install.sh runs npm ci there)"
    )
    return node


async def _run_node(*args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLEREDUX_TOKEN": token}
    return await asyncio.to_thread(
        subprocess.run,
        [_node(), str(SCRIPT), *args],
        cwd=CLIENT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


async def test_node_client_follows_a_run_to_its_end(stack: EmbeddedStack) -> None:
    token = stack.admin_token
    done = await _run_node(
        "--gateway",
        stack.gateway_address,
        "--competition",
        "demo-digits",
        "--agent",
        "dummy",
        "--env",
        "DUMMY_SLEEP=0",
        token=token,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["state"] == "RUN_STATE_SUCCEEDED", result
    # Every event from 1 to the run's last, each once and in order.
    assert result["gap_free"] and result["first_seq"] == 1
    assert result["events"] == result["max_seq"] == result["last_seq"] > 0
    assert result["states"][-1] == "RUN_STATE_SUCCEEDED"
    assert result["score"] is not None

    # What Node saw is what the Python SDK sees for the same run.
    async with GatewayClient(stack.gateway_address, token) as client:
        run = await client.get_run(result["run_id"])
        seqs = [event.seq async for event in client.watch(run.run_id, from_seq=1, follow=False)]
    assert run.state == common_pb2.RunState.RUN_STATE_SUCCEEDED
    assert seqs == list(range(1, result["last_seq"] + 1)) and run.last_seq == result["last_seq"]
    assert run.report.score == pytest.approx(result["score"])


async def test_node_client_reports_a_refused_token_in_one_line(stack: EmbeddedStack) -> None:
    done = await _run_node("--gateway", stack.gateway_address, token="mlx_not-a-real-token")
    assert done.returncode == 2 and done.stdout == ""
    assert "UNAUTHENTICATED" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
