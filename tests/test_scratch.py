"""Scratch folders survive no process that is gone: a killed grader's spooled submission is removed by the next.

The folder-level rules are checked with real processes (one that exited, one that is alive, and a pid
that is alive but started later than the folder's owner); then a real grader service is killed with
SIGKILL while its scratch holds a spooled submission, the grader started after it removes it, and a
clean stop of that one removes its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mleredux.preparation.prepare import PreparedDataset, prepare_competition
from mleredux.v1 import grader_pb2, grader_pb2_grpc
from services.scratch import ServiceScratch, _start_ticks


def _folder_of(root: Path, pid: int, ticks: str | None) -> Path:
    folder = root / f"{pid}.{ticks}"
    folder.mkdir(parents=True)
    (folder / "submission.csv").write_text("id,label\n1,0\n")
    return folder


def test_claim_removes_the_folders_of_processes_that_are_gone_and_keeps_the_living(tmp_path: Path) -> None:
    scratch = ServiceScratch("grader", tmp_path)
    exited = subprocess.Popen(["sleep", "0"])
    exited_ticks = _start_ticks(exited.pid)
    exited.wait()
    living = subprocess.Popen(["sleep", "60"])
    try:
        gone = _folder_of(scratch.root, exited.pid, exited_ticks)
        alive = _folder_of(scratch.root, living.pid, _start_ticks(living.pid))
        # Our own pid, but a start time that is not ours: the pid was handed out again.
        reused = _folder_of(scratch.root, os.getpid(), "1")
        stray = scratch.root / "not-a-process"
        stray.mkdir()
        assert scratch.claim() == 3
        assert not gone.exists() and not reused.exists() and not stray.exists()
        assert (alive / "submission.csv").exists()
        assert scratch.own.is_dir()
        assert scratch.claim() == 0  # repeating it removes nothing more, its own folder included
        assert scratch.own.is_dir() and alive.is_dir()
    finally:
        living.kill()
        living.wait()


def test_a_folder_is_removed_when_its_block_ends_even_on_an_error(tmp_path: Path) -> None:
    scratch = ServiceScratch("gateway", tmp_path)
    scratch.claim()
    with scratch.folder("agent-context-") as folder:
        (folder / "context.tar").write_bytes(b"x" * 1000)
        assert folder.parent == scratch.own and folder.name.startswith("agent-context-")
    assert not folder.exists()
    with pytest.raises(RuntimeError), scratch.folder("agent-context-") as failing:
        (failing / "half").write_bytes(b"y")
        raise RuntimeError("the upload broke off")
    assert not failing.exists()
    assert list(scratch.own.iterdir()) == []
    scratch.release()
    assert not scratch.own.exists()
    assert not scratch.root.exists()


def test_a_folder_is_made_again_when_its_process_folder_was_taken(tmp_path: Path) -> None:
    scratch = ServiceScratch("grader", tmp_path)
    scratch.claim()
    scratch.own.rmdir()  # a tmp cleaner ran
    with scratch.folder("grade-") as folder:
        assert folder.is_dir()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreparedDataset]:
    data_dir = tmp_path_factory.mktemp("data")
    return data_dir, prepare_competition("demo-digits", data_dir)


def _start_grader(data_dir: Path, store: Path, temp: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "mleredux", "serve", "grader", "--listen", "127.0.0.1:0"]
    command += ["--data-dir", str(data_dir), "--store", f"file://{store}"]
    env = {**os.environ, "TMPDIR": str(temp)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening on "), line + process.stdout.read()
    return process, line.split()[-1]


@pytest.fixture
def graders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=30)


def test_a_grader_killed_mid_grade_leaves_nothing_once_the_next_starts(
    prepared: tuple[Path, PreparedDataset], tmp_path: Path, graders: list[subprocess.Popen[str]]
) -> None:
    data_dir, dataset = prepared
    temp = tmp_path / "tmp"
    temp.mkdir()
    first, address = _start_grader(data_dir, tmp_path / "store", temp)
    graders.append(first)
    root = temp / "mleredux-grader-scratch"
    own = root / f"{first.pid}.{_start_ticks(first.pid)}"
    assert own.is_dir()
    sample = (dataset.public_dir / "sample_submission.csv").read_bytes()
    with grpc.insecure_channel(address) as channel:
        stub = grader_pb2_grpc.GraderServiceStub(channel)
        request = grader_pb2.GradeSubmissionRequest(
            competition_id="demo-digits", submission=grader_pb2.SubmissionSource(content=sample)
        )
        assert stub.GradeSubmission(request, timeout=120).report.valid_submission
    assert list(own.iterdir()) == []  # a finished grade leaves nothing
    # What a grade in flight holds when SIGKILL comes: its spooled submission.
    spooled = own / "grade-inflight"
    spooled.mkdir()
    (spooled / "submission.csv").write_bytes(sample)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert spooled.exists()  # nobody could remove it
    second, _ = _start_grader(data_dir, tmp_path / "store", temp)
    graders.append(second)
    assert not own.exists()
    second_own = root / f"{second.pid}.{_start_ticks(second.pid)}"
    assert [p.name for p in root.iterdir()] == [second_own.name]
    assert list(temp.iterdir()) == [root]  # nothing else in the temp dir either
    second.send_signal(signal.SIGTERM)  # a clean stop removes its own folder too
    assert second.wait(timeout=60) == 0
    assert not second_own.exists()
    assert list(temp.iterdir()) == []  # the grader's folder too, as no other grader uses it
