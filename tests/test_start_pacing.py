"""Container starts are paced (services/runner/start_pacing.py): a flood of tiny runs cannot spend the
whole host on the Docker engine's per-start work. The pacer's arithmetic on the event loop's clock,
then a real runner at 2 starts/s given six runs at once."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2
from services.runner.start_pacing import StartPacer

RunState = common_pb2.RunState


async def test_the_pacer_lets_a_burst_through_then_spaces_starts_out() -> None:
    pacer = StartPacer(per_second=50.0, burst=3)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(8):
        await pacer.turn()
    # Three back to back, then five more, each 20 ms after the one before: 100 ms of waiting in all.
    assert pacer.waited == 5
    assert pacer.waited_seconds == pytest.approx(5 * 0.02, rel=0.2)
    assert loop.time() - began >= 0.1 * 0.95


async def test_an_unpaced_runner_never_waits() -> None:
    pacer = StartPacer(per_second=0.0)
    for _ in range(100):
        await pacer.turn()
    assert pacer.waited == 0


@pytest.fixture(scope="module")
async def paced_stack(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> AsyncIterator[EmbeddedStack]:
    flags = ["--max-concurrent", "6"]
    stack = EmbeddedStack(
        Home(tmp_path_factory.mktemp("paced-home")),
        gateway_http_listen=None,
        extra_args={"gateway": flags, "runner": [*flags, "--container-starts-per-second", "2"]},
    )
    await asyncio.to_thread(stack.start)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


async def test_six_runs_at_once_start_at_the_paced_rate(paced_stack: EmbeddedStack) -> None:
    tiny = common_pb2.ComputeProfile(cpus=0.05, memory_bytes=64 << 20, time_limit_seconds=300)
    since = time.time()
    async with GatewayClient(paced_stack.gateway_address, paced_stack.admin_token) as client:
        runs = [await client.create_run("demo-digits", "dummy", compute=tiny) for _ in range(6)]

        async def to_end(run_id: str) -> int:
            async for _ in client.watch(run_id):
                pass  # the stream ends with the run
            return (await client.get_run(run_id)).state

        assert await asyncio.gather(*(to_end(r.run_id) for r in runs)) == [RunState.RUN_STATE_SUCCEEDED] * 6
    # When the engine created each run's container (the pacer's turn comes right before the create).
    # The RUNNING event comes after the start as well, and a start's own time varies by a few tenths
    # of a second when six set up at once: measured there, the spacing blurred (0.30-0.52 s apart).
    argv = ["docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}", "--filter", "event=create"]
    argv += [
        "--filter",
        "label=mleredux.run_id",
        "--format",
        '{{.TimeNano}} {{index .Actor.Attributes "mleredux.run_id"}}',
    ]
    events = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, check=True)
    created: dict[str, float] = {}
    for line in events.stdout.split("\n"):
        if line.strip():
            nanos, run_id = line.split()
            created.setdefault(run_id, int(nanos) / 1e9)
    times = sorted(created[r.run_id] for r in runs)
    # Two back to back, then one every 0.5 s: the sixth is created at least 2 s after the first.
    assert times[-1] - times[0] >= 2.0 * 0.9, times
