"""The reaper names only containers it really removed: while runs start, end and are delivered
around it, a reaper sweeping as fast as it can never claims a container that its run removed.
(Without the re-check before removal, 30 runs give the reaper one or two false claims here.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mleredux.store import open_store
from mleredux.v1 import common_pb2
from services.runner.backends.docker import DockerBackend
from services.runner.capacity import Budget
from services.runner.run_request import RunRequest
from services.runner.supervisor import RunSupervisor, SupervisorSettings
from services.runner.validation_socket import ValidationAnswer, Validator
from tests.runner_harness import make_public_dir

RunState = common_pb2.RunState


def _validator(run: RunRequest) -> Validator:
    async def validate(content: bytes) -> ValidationAnswer:
        return ValidationAnswer(valid=True, message=f"{len(content)} bytes")

    return validate


async def test_a_sweeping_reaper_names_no_container_that_its_run_removed(tmp_path: Path, dummy_image: str) -> None:
    settings = SupervisorSettings(
        work_root=tmp_path / "runner",
        runner_id=f"reaper-{tmp_path.name[-10:]}",
        budget=Budget(cpus=8, memory_bytes=8 << 30, gpus=0, max_concurrent=8),
        reap_interval_seconds=3600,
    )
    backend = DockerBackend()
    supervisor = RunSupervisor(settings, backend, open_store((tmp_path / "store").as_uri()), _validator)
    await supervisor.start()
    public = make_public_dir(tmp_path)
    named: list[str] = []
    finished = asyncio.Event()

    async def sweep() -> int:
        sweeps = 0
        while not finished.is_set():
            named.extend(await supervisor.reap())
            sweeps += 1
        return sweeps

    async def one_run(index: int) -> list[common_pb2.RunEvent]:
        request = RunRequest(
            run_id=f"reaped-{index}",
            image=dummy_image,
            competition_id="test-dataset",
            public_dir=public,
            store_prefix="",
            cpus=0.2,
            memory_bytes=128 << 20,
            gpus=0,
            time_limit_seconds=120,
            pids_limit=64,
            shm_bytes=16 << 20,
            disk_bytes=32 << 20,
        )
        execution = supervisor.execute(request)
        return [e for batch in [b async for b in supervisor.follow(execution, 0)] for e in batch.events]

    try:
        sweeper = asyncio.create_task(sweep())
        runs = await asyncio.gather(*(one_run(i) for i in range(30)))
        finished.set()
        sweeps = await sweeper
    finally:
        await supervisor.shutdown()
        await backend.close()
    for events in runs:
        final = [e.status_change for e in events if e.HasField("status_change")][-1]
        assert final.state == RunState.RUN_STATE_GRADING and final.exit_code == 0, final.message
    assert sweeps > 12
    assert named == [], f"the reaper claims containers that their runs removed: {named}"
