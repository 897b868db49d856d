"""Reading a container's output off the engine's json-file log: the same frames as the follow API,
across rotations, live, and the API when the file cannot be read here."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runner.backends.base import OutputChunk
from services.runner.backends.docker import DockerBackend
from services.runner.backends.docker_log_file import READ_BYTES, decode_entries
from services.runner.backends.docker_logs import LogStreamError

_RUN = ["docker", "run", "-d", "--pull=never", "--network", "none", "--label", "mleredux.test=docker-log-file"]


def _entry(stream: str, text: str) -> bytes:
    return json.dumps({"log": text, "stream": stream, "time": "2026-12-03T00:00:00.000000001Z"}).encode() + b"\n"


def test_entries_become_the_frames_the_api_would_send_with_whole_lines_merged() -> None:
    block = b"".join(
        [
            _entry("stdout", "1\n"),
            _entry("stdout", "2\r\n"),
            _entry("stderr", "e\n"),
            _entry("stdout", "x" * 5 + "é"),  # a 16 KiB piece of a longer line: a frame of its own
            _entry("stdout", "rest\n"),
            _entry("stdout", "\u2603\n"),
            _entry("stdout", "3\n"),
        ]
    )
    chunks: list[OutputChunk] = []
    decode_entries(block, chunks)
    assert chunks == [
        OutputChunk("stdout", b"1\n2\r\n", 2),
        OutputChunk("stderr", b"e\n"),
        OutputChunk("stdout", "xxxxxé".encode()),
        OutputChunk("stdout", "rest\n\u2603\n3\n".encode(), 3),
    ]
    with pytest.raises(LogStreamError, match="not a log line"):
        decode_entries(b'{"no": "log"}\n', [])


async def _start(image: str, script: str, *options: str) -> str:
    out = await asyncio.to_thread(
        subprocess.run, [*_RUN, *options, image, "sh", "-c", script], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


async def _frames(backend: DockerBackend, container: str) -> list[tuple[str, bytes]]:
    batches = [batch async for batch in backend.output(container)]
    return [(f.stream, f.data) for batch in batches for chunk in batch for f in chunk.split()]


async def _both(image: str, script: str, *options: str) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The container's frames read off its log file and through the API, both following from its start."""
    container = await _start(image, script, *options)
    from_file, from_api = DockerBackend(), DockerBackend(read_log_files=False)
    try:
        assert await from_file._log_file(container) is not None, "the test runs where the engine's files are readable"
        return await asyncio.gather(_frames(from_file, container), _frames(from_api, container))
    finally:
        await from_file.remove(container)
        await from_file.close()
        await from_api.close()


async def test_the_file_gives_the_api_frames_streams_long_lines_and_an_unfinished_last_line(dummy_image: str) -> None:
    long_line = "y" * 40_000
    script = f"sleep 0.3; echo one; echo two >&2; printf '{long_line}\\n'; echo three; printf tail"
    from_file, from_api = await _both(dummy_image, script)
    # Docker 20.10's follow API ends at the stop and now and then drops the last frame (here `tail`,
    # in 2 of 3 tries); the file still holds it.
    assert from_file[: len(from_api)] == from_api and len(from_file) - len(from_api) <= 1
    assert b"".join(d for s, d in from_file if s == "stdout") == f"one\n{long_line}\nthree\ntail".encode()
    assert [d for s, d in from_file if s == "stderr"] == [b"two\n"]
    assert len([d for d in from_file if d[1].startswith(b"y")]) == 3  # 16 KiB pieces, as the engine cut it


async def test_a_log_rotated_while_followed_is_read_across_every_file(dummy_image: str) -> None:
    # 2 KiB files, 3 kept: the output rotates about ten times while it is followed. (Docker 20.10's
    # follow API repeats a few frames at each rotation, so its frames are not the reference here.)
    script = 'sleep 0.3; i=0; while [ $i -lt 120 ]; do i=$((i+1)); echo "line $i $(printf %0150d 0)"; ' + (
        '[ $((i % 10)) -eq 0 ] && echo "err $i" >&2 && sleep 0.05; done'
    )
    container = await _start(dummy_image, script, "--log-opt", "max-size=2k", "--log-opt", "max-file=3")
    backend = DockerBackend()
    try:
        frames = await _frames(backend, container)
        rotated = str(await backend._log_file(container)) + ".2"
        assert await asyncio.to_thread(os.path.exists, rotated)  # the file rotated at least twice
        replay = await _frames(backend, container)  # read again after the end: the 3 files kept, oldest first
    finally:
        await backend.remove(container)
        await backend.close()
    assert 12 < len(replay) < len(frames) and replay == frames[-len(replay) :]
    assert [int(d.split()[1]) for s, d in frames if s == "stdout"] == list(range(1, 121))
    assert [int(d.split()[1]) for s, d in frames if s == "stderr"] == list(range(10, 121, 10))


async def test_a_line_arrives_while_the_container_runs_and_the_end_follows_its_stop(dummy_image: str) -> None:
    container = await _start(dummy_image, "echo ready; sleep 30")
    backend = DockerBackend()
    try:
        stream = backend.output(container)
        first = await asyncio.wait_for(anext(stream), 10)
        assert [c.data for c in first] == [b"ready\n"]
        await asyncio.to_thread(subprocess.run, ["docker", "kill", container], capture_output=True, check=True)
        assert [b async for b in stream] == []  # ends once the engine has recorded the stop
        assert not backend._stops  # the shared wait is gone with its last waiter
    finally:
        await backend.remove(container)
        await backend.close()


async def test_a_log_file_that_is_not_readable_here_is_followed_through_the_api(
    dummy_image: str, tmp_path: Path
) -> None:
    container = await _start(dummy_image, "echo via-api; echo err >&2")
    backend = DockerBackend()
    try:
        assert await backend._log_file(container) is not None
        backend._containers_dir = str(tmp_path)  # as a runner in a container without the engine's files sees it
        # The engine copies the two streams apart: their order between them is not fixed.
        assert sorted(await _frames(backend, container)) == [("stderr", b"err\n"), ("stdout", b"via-api\n")]
    finally:
        await backend.remove(container)
        await backend.close()


async def test_a_container_removed_while_followed_ends_its_output(dummy_image: str) -> None:
    # Its log file is deleted with it: the reader finishes what it has instead of waiting for more.
    container = await _start(dummy_image, "echo before; sleep 30")
    backend = DockerBackend()
    try:
        stream = backend.output(container)
        assert [c.data for c in await asyncio.wait_for(anext(stream), 10)] == [b"before\n"]
        await asyncio.to_thread(subprocess.run, ["docker", "rm", "-f", container], capture_output=True, check=True)
        assert await asyncio.wait_for(_rest(stream), 10) == []
    finally:
        await backend.remove(container)
        await backend.close()


async def _rest(stream: AsyncIterator[list[OutputChunk]]) -> list[list[OutputChunk]]:
    return [batch async for batch in stream]


async def test_a_long_log_read_from_its_start_gives_the_loop_up_between_blocks(dummy_image: str) -> None:
    # A run far ahead of its reader (300,000 lines printed before the runner looks) once held the
    # runner's loop for the whole file: a yield to the caller's `async for` does not give the loop up.
    # Counted in loop turns, not seconds: a task beside the reader runs between every two blocks.
    container = await _start(dummy_image, "yes 'a line of the agent printing fast' | head -n 200000")
    await asyncio.to_thread(subprocess.run, ["docker", "wait", container], capture_output=True, check=True)
    backend = DockerBackend()
    turns = 0

    async def beside() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(beside())
    try:
        path = await backend._log_file(container)
        assert path is not None, "the test runs where the engine's files are readable"
        blocks = (await asyncio.to_thread(os.path.getsize, path)) // READ_BYTES
        assert blocks >= 8  # ~80 bytes an entry
        turns_at: list[int] = []
        lines = 0
        async for batch in backend.output(container):
            turns_at.append(turns)
            lines += sum(chunk.data.count(b"\n") for chunk in batch)
    finally:
        ticker.cancel()
        await backend.remove(container)
        await backend.close()
    assert lines == 200_000
    # Every block after the first let the task beside it run at least once.
    assert sum(1 for a, b in itertools.pairwise(turns_at) if b > a) >= blocks - 1
