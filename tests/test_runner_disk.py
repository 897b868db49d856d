"""The run's bounded disk on the host side: a loop-mounted sparse ext4 of the run's size, released
on every path, and mounts left by a runner killed with SIGKILL cleaned at its next start."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mleredux.v1 import common_pb2, runner_pb2
from services.runner.run_disk import IMAGE_FILE, RunDisk, release_work_dir, stale_mounts
from tests.conftest import containers_of
from tests.runner_harness import RunnerProcess, collect, execute_request, make_public_dir, statuses, stub

MIB = 1 << 20
RunState = common_pb2.RunState


def _mounted(path: Path) -> bool:
    return f" {path} " in Path("/proc/self/mountinfo").read_text()


def test_a_run_disk_is_sparse_bounded_and_released(tmp_path: Path) -> None:
    work = tmp_path / "runs" / "r1"
    work.mkdir(parents=True)
    disk = RunDisk(work, 32 * MIB)
    assert disk.ensure() == "loop"
    assert disk.ensure() == "loop"  # idempotent: found mounted
    assert os.stat(disk.image).st_blocks * 512 < 8 * MIB  # sparse: only metadata is on the host
    usage = disk.usage()
    assert usage is not None and 24 * MIB < usage.size_bytes <= 32 * MIB and not usage.full
    with pytest.raises(OSError) as full:
        with open(disk.root / "fill", "wb") as handle:
            while True:
                handle.write(b"\0" * MIB)
    assert full.value.errno == 28  # ENOSPC
    usage = disk.usage()
    assert usage is not None and usage.full
    assert stale_mounts(tmp_path / "runs", keep={"r1"}) == []
    assert stale_mounts(tmp_path / "runs", keep=set()) == [disk.root]
    release_work_dir(work)
    assert not work.exists() and not _mounted(disk.root)
    release_work_dir(work)  # any number of times


@pytest.fixture
def runner(tmp_path: Path, dummy_image: str) -> Iterator[RunnerProcess]:
    process = RunnerProcess(tmp_path / "runner", (tmp_path / "store").as_uri())
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_after_kill_9_the_restarted_runner_keeps_a_live_runs_disk_and_unmounts_strays(
    runner: RunnerProcess, dummy_image: str, tmp_path: Path
) -> None:
    public = make_public_dir(tmp_path)
    compute = common_pb2.ComputeProfile(cpus=0.5, memory_bytes=128 * MIB, time_limit_seconds=120, disk_bytes=32 * MIB)
    events: list[common_pb2.RunEvent] = []
    async with runner.channel() as channel:
        call = stub(channel).ExecuteRun(
            execute_request("disk-run", dummy_image, public, compute=compute, DUMMY_SLEEP="3")
        )
        await collect(call, events, until=lambda e: e.log_line.text.startswith("sleeping"))
        runner.kill9()
    live = runner.work_dir / "runs" / "disk-run" / "disk"
    assert _mounted(live), "the run's disk outlives the runner, like its container"
    # A disk nobody owns any more, as a runner killed while releasing one leaves it.
    stray = runner.work_dir / "runs" / "gone-run"
    stray.mkdir(parents=True)
    await asyncio.to_thread(RunDisk(stray, 16 * MIB).ensure)
    assert _mounted(stray / "disk")
    runner.start()
    async with runner.channel() as channel:
        attach = stub(channel).AttachRun(runner_pb2.AttachRunRequest(run_id="disk-run", after_seq=events[-1].seq))
        await collect(attach, events)
    assert not _mounted(stray / "disk") and not stray.exists()
    final = statuses(events)[-1]
    assert final.state == RunState.RUN_STATE_GRADING and final.exit_code == 0, final.message
    assert "submission/submission.csv" in {e.artifact_stored.name for e in events if e.HasField("artifact_stored")}
    # The finished run keeps its journal until its caller releases it; its disk goes once its files
    # are in the store (in the background, just after the run's last event).
    for _ in range(100):
        if not (live.parent / IMAGE_FILE).exists():
            break
        await asyncio.sleep(0.1)
    assert not _mounted(live) and not (live.parent / IMAGE_FILE).exists()
    assert containers_of("disk-run") == []
    loops = await asyncio.to_thread(subprocess.run, ["losetup", "-a"], capture_output=True, text=True)
    assert str(runner.work_dir) not in loops.stdout  # the loop devices went with the mounts


def test_without_loop_devices_a_size_capped_tmpfs_bounds_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host without mkfs.ext4 on the PATH cannot make the loop disk: the tmpfs takes its place.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    work = tmp_path / "runs" / "r2"
    work.mkdir(parents=True)
    disk = RunDisk(work, 16 * MIB)
    assert disk.ensure() == "tmpfs"
    assert not disk.image.exists()
    with pytest.raises(OSError) as full:
        with open(disk.root / "fill", "wb") as handle:
            while True:
                handle.write(b"\0" * MIB)
    assert full.value.errno == 28  # ENOSPC
    usage = disk.usage()
    assert usage is not None and usage.full and usage.size_bytes == 16 * MIB
    release_work_dir(work)
    assert not work.exists() and not _mounted(disk.root)
