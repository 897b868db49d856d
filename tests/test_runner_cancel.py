"""A cancel that reaches the runner before the run's ExecuteRun (the two race when a caller cancels a
run as it places it) is remembered: the run is refused, never left running with nobody following it
and holding the runner's capacity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mleredux.v1 import common_pb2, runner_pb2
from services.runner.servicer import RunnerSettings
from tests.conftest import containers_of
from tests.runner_harness import RunnerProcess, collect, execute_request, make_public_dir, runner_containers, stub


@pytest.fixture
def runner(tmp_path: Path, dummy_image: str) -> Iterator[RunnerProcess]:
    process = RunnerProcess(tmp_path / "runner", (tmp_path / "store").as_uri())
    process.start()
    try:
        yield process
    finally:
        process.stop()
        assert runner_containers(RunnerSettings(process.work_dir, "", "").runner_id) == []


async def test_a_run_cancelled_before_it_arrives_is_never_started(
    runner: RunnerProcess, dummy_image: str, tmp_path: Path
) -> None:
    public = make_public_dir(tmp_path)
    async with runner.channel() as channel:
        cancel = runner_pb2.RunnerServiceCancelRunRequest(run_id="early", reason="cancelled by the user")
        assert not (await stub(channel).CancelRun(cancel)).found
        events: list[common_pb2.RunEvent] = []
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await collect(
                stub(channel).ExecuteRun(execute_request("early", dummy_image, public, DUMMY_SLEEP="600")), events
            )
        assert refused.value.code() == grpc.StatusCode.ABORTED
        assert "cancelled before it started" in (refused.value.details() or "")
        assert events == [] and containers_of("early") == []
        # Another run is not affected.
        other: list[common_pb2.RunEvent] = []
        await collect(stub(channel).ExecuteRun(execute_request("other", dummy_image, public)), other)
        assert other[-1].status_change.state == common_pb2.RunState.RUN_STATE_GRADING
