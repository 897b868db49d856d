"""Hostile agents against a real runner: each attack of issue 12 (rollout lines, file names, output,
disk) tried by a real container, asserted from outside — the attacker's run ends with the warning
that names the bound it hit, a normal run next to it ends normally, the runner's memory and the
host's disk stay within stated bounds (docs/limits.md), and nothing is left mounted.

The hostile image is the dummy agent's busybox rootfs with tests/agents/hostile/attack.sh; every
attack run starts with `validate-first`, so each also checks that RUNNING precedes the agent's events.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mleredux import proto_json
from mleredux.v1 import common_pb2
from services.runner.run_disk import DISK_DIR, IMAGE_FILE
from tests.hostile_agent import build_hostile_image
from tests.runner_harness import RunnerProcess, collect, execute_request, log_lines, make_public_dir, statuses, stub

RunState = common_pb2.RunState
MIB = 1 << 20
DISK_BYTES = 64 * MIB
LIMITS = {
    "MAX_OUTPUT_LINES": 20_000,
    "MAX_ROLLOUT_EVENTS": 100,
    "MAX_ARTIFACT_FILES": 100,
    "DEFAULT_DISK_BYTES": DISK_BYTES,
}
#: The runner's peak resident memory over this module (its RSS starts near 60 MiB); see docs/limits.md.
RUNNER_PEAK_RSS_BOUND = 400 * MIB


@pytest.fixture(scope="module")
def hostile_image(dummy_image: str) -> str:
    return build_hostile_image(dummy_image)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> Iterator[RunnerProcess]:
    root = tmp_path_factory.mktemp("hostile")
    process = RunnerProcess(
        root / "runner",
        (root / "store").as_uri(),
        extra_args=["--max-concurrent", "4"],
        env={f"MLEREDUX_RUNNER_{name}": str(value) for name, value in LIMITS.items()},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def runner_memory(runner: RunnerProcess) -> tuple[int, int]:
    """(current, peak) resident memory of the runner process, from /proc."""
    assert runner.process is not None
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{runner.process.pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def warnings(events: list[common_pb2.RunEvent]) -> list[str]:
    return [proto_json.struct_to_python(e.rollout.payload)["message"] for e in events if e.rollout.kind == "warning"]


def stored(events: list[common_pb2.RunEvent]) -> set[str]:
    return {e.artifact_stored.name for e in events if e.HasField("artifact_stored")}


async def attack_beside_a_normal_run(
    runner: RunnerProcess, hostile_image: str, dummy_image: str, public: Path, name: str, **env: str
) -> tuple[list[common_pb2.RunEvent], list[common_pb2.RunEvent]]:
    attacker: list[common_pb2.RunEvent] = []
    normal: list[common_pb2.RunEvent] = []
    compute = common_pb2.ComputeProfile(cpus=0.5, memory_bytes=256 * MIB, time_limit_seconds=300)
    async with runner.channel() as channel:
        runner_stub = stub(channel)
        attack = runner_stub.ExecuteRun(
            execute_request(
                f"attack-{name}", hostile_image, public, compute=compute, ATTACK=f"validate-first {name}", **env
            )
        )
        bystander = runner_stub.ExecuteRun(
            execute_request(f"normal-{name}", dummy_image, public, DUMMY_TICKS="20", DUMMY_TICK_SECONDS="0.05")
        )
        await asyncio.gather(collect(attack, attacker), collect(bystander, normal))
    for events in (attacker, normal):
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
    # The bystander is untouched: exit 0, its files stored, no warning.
    assert statuses(normal)[-1].state == RunState.RUN_STATE_GRADING and statuses(normal)[-1].exit_code == 0
    assert {"submission/submission.csv", "code/solution.sh", "rollout.jsonl"} <= stored(normal)
    assert [line for line in log_lines(normal) if line.startswith("tick ")] == [f"tick {i}" for i in range(1, 21)]
    assert warnings(normal) == []
    # The attacker's own run ends normally too (the agent exits 0): the bounds only dropped the excess.
    final = statuses(attacker)[-1]
    assert final.state == RunState.RUN_STATE_GRADING and final.exit_code == 0, final.message
    assert "submission/submission.csv" in stored(attacker)
    assert "hostile agent: done" in log_lines(attacker) or name == "output"
    # RUNNING precedes every event the agent produced (its first act was a validation call).
    running = next(e.seq for e in attacker if e.status_change.state == RunState.RUN_STATE_RUNNING)
    validations = [e.seq for e in attacker if e.rollout.kind == "validation"]
    assert validations and min(validations) > running
    assert [s.state for s in statuses(attacker)].count(RunState.RUN_STATE_RUNNING) == 1
    return attacker, normal


async def test_hostile_rollout_lines_become_warnings_and_the_rollout_is_capped(
    runner: RunnerProcess, hostile_image: str, dummy_image: str, tmp_path: Path
) -> None:
    attacker, _ = await attack_beside_a_normal_run(
        runner, hostile_image, dummy_image, make_public_dir(tmp_path), "rollout", ROLLOUT_LINES="5000"
    )
    said = warnings(attacker)
    assert sum(w.startswith("malformed rollout line") for w in said) >= 7
    assert said.count("rollout limit of 100 events per run reached; later rollout lines are not recorded") == 1
    agent_rollout = [e for e in attacker if e.HasField("rollout") and e.rollout.kind not in ("validation",)]
    assert len(agent_rollout) <= 100 + 1 + 2  # the cap, its warning, and none of the 5,000 beyond
    assert "rollout.jsonl" in stored(attacker)


async def test_hostile_file_names_are_encoded_or_skipped_and_files_are_capped(
    runner: RunnerProcess, hostile_image: str, dummy_image: str, tmp_path: Path
) -> None:
    attacker, _ = await attack_beside_a_normal_run(
        runner, hostile_image, dummy_image, make_public_dir(tmp_path), "names", NAME_FILES="300"
    )
    names = stored(attacker)
    assert {"code/ok.py", "code/bad%FF%FEname.py", "code/new%0Aline.py", "code/esc%1B[31mred"} <= names
    assert all(name.isprintable() for name in names)
    assert len(names) == LIMITS["MAX_ARTIFACT_FILES"]
    said = warnings(attacker)
    assert any("are not printable UTF-8 and are stored encoded" in w for w in said)
    assert any("longer than 900 bytes were not uploaded" in w for w in said)
    assert said.count("file limit of 100 per run reached; the rest were not uploaded") == 1


async def test_output_past_the_cap_is_dropped_with_one_warning_and_the_run_goes_on(
    runner: RunnerProcess, hostile_image: str, dummy_image: str, tmp_path: Path
) -> None:
    attacker, _ = await attack_beside_a_normal_run(
        runner, hostile_image, dummy_image, make_public_dir(tmp_path), "output", OUTPUT_LINES="300000"
    )
    lines = [e for e in attacker if e.HasField("log_line")]
    assert len(lines) == LIMITS["MAX_OUTPUT_LINES"]
    said = warnings(attacker)
    assert said == ["output limit of 20000 lines per run reached; the run goes on but later output is not recorded"]
    # The agent went on past the cap and wrote its submission.
    assert "submission/submission.csv" in stored(attacker)
    _, peak = runner_memory(runner)
    assert peak < RUNNER_PEAK_RSS_BOUND, f"runner peak RSS {peak >> 20} MiB"


async def test_writes_past_the_disk_limit_get_enospc_in_every_dir_and_the_host_is_untouched(
    runner: RunnerProcess, hostile_image: str, dummy_image: str, tmp_path: Path
) -> None:
    before = os.statvfs(runner.work_dir)
    attacker, _ = await attack_beside_a_normal_run(
        runner, hostile_image, dummy_image, make_public_dir(tmp_path), "disk"
    )
    out = log_lines(attacker)
    for directory in ("/home/submission", "/home/code", "/home/logs", "/tmp"):
        [line] = [line for line in out if line.startswith("disk: ") and f" {directory}" in line]
        assert line.startswith(f"disk: ENOSPC in {directory} after "), line
        kib = int(line.split(" after ")[1].split()[0])
        assert 32 * 1024 < kib <= DISK_BYTES // 1024  # filled to near the limit, never past it
    said = warnings(attacker)
    assert [w for w in said if w.startswith("disk limit of")] == [
        f"disk limit of {DISK_BYTES} bytes reached: writes to /home/submission, /home/code, /home/logs and "
        "/tmp fail with ENOSPC (no space left on device)"
    ]
    # The run is over: its disk is unmounted and its image gone, so the host has its space back.
    after = os.statvfs(runner.work_dir)
    assert (before.f_bavail - after.f_bavail) * after.f_frsize < 2 * DISK_BYTES
    mounts = await asyncio.to_thread(Path("/proc/self/mountinfo").read_text)
    assert str(runner.work_dir) not in mounts
    # A finished run keeps its journal until its caller releases it; its disk image goes once its
    # files are in the store (in the background, just after the run's last event).
    work_dir = runner.work_dir / "runs" / "attack-disk"
    for _ in range(100):
        if not (work_dir / IMAGE_FILE).exists():
            break
        await asyncio.sleep(0.1)
    assert not (work_dir / IMAGE_FILE).exists() and not (work_dir / DISK_DIR).is_mount()
