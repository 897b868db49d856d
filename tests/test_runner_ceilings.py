"""A hard ceiling on what a request may ask for: above it, ExecuteRun is refused with INVALID_ARGUMENT
naming the ceiling (a real runner process, over gRPC)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mleredux.v1 import common_pb2
from services.runner.limits import Ceilings
from tests.runner_harness import RunnerProcess, execute_request, make_public_dir, stub

CEILINGS = Ceilings()


@pytest.fixture
def runner(tmp_path: Path, dummy_image: str) -> Iterator[RunnerProcess]:
    process = RunnerProcess(tmp_path / "runner", f"file://{tmp_path / 'store'}")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pids_limit", 100_000),
        ("time_limit_seconds", 1 << 62),
        ("cpus", 1000.0),
        ("memory_bytes", 1 << 50),
        ("shm_bytes", 1 << 50),
        ("cpus", -1.0),
        ("pids_limit", -5),
    ],
)
async def test_a_request_above_a_ceiling_is_refused_naming_it(
    runner: RunnerProcess, tmp_path: Path, dummy_image: str, field: str, value: float
) -> None:
    compute = common_pb2.ComputeProfile(cpus=0.5, memory_bytes=256 << 20, time_limit_seconds=60)
    setattr(compute, field, value)
    request = execute_request("ceiling-run", dummy_image, make_public_dir(tmp_path), compute=compute)
    async with runner.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub(channel).ExecuteRun(request):
                pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = refused.value.details() or ""
    assert f"compute.{field}" in details
    if value >= 0:
        assert f"ceiling of {getattr(CEILINGS, field):g}" in details
    assert not (runner.work_dir / "runs" / "ceiling-run").exists()


async def test_an_oversized_env_is_refused_naming_the_ceiling(
    runner: RunnerProcess, tmp_path: Path, dummy_image: str
) -> None:
    request = execute_request("env-run", dummy_image, make_public_dir(tmp_path), BIG="x" * (1536 * 1024))
    async with runner.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub(channel).ExecuteRun(request):
                pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"ceiling of {CEILINGS.env_bytes}" in (refused.value.details() or "")
