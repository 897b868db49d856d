"""Reading a container's log straight off the Docker socket: chunked decoding, frames, engine errors."""

from __future__ import annotations

import asyncio
import struct
import subprocess

import pytest

from services.runner.backends.base import ContainerGoneError, OutputChunk
from services.runner.backends.docker import DockerBackend
from services.runner.backends.docker_logs import LogStreamError, LogStreamParser


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def _chunked(payload: list[bytes]) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in payload) + b"0\r\n\r\n"


FRAMES = [_frame(1, b"line one\n"), _frame(2, b"err\n"), _frame(1, b""), _frame(1, b"x" * 300), _frame(1, b"tail")]
EXPECTED = [
    OutputChunk("stdout", b"line one\n"),
    OutputChunk("stderr", b"err\n"),
    OutputChunk("stdout", b""),
    OutputChunk("stdout", b"x" * 300),
    OutputChunk("stdout", b"tail"),
]


@pytest.mark.parametrize("step", [1, 2, 7, 64, 10_000])
def test_chunked_frames_come_out_whole_however_the_bytes_are_cut(step: int) -> None:
    # Chunks and frames do not line up: one chunk holds a frame and a half, the next the rest.
    payload = b"".join(FRAMES)
    wire = _chunked([payload[:20], payload[20:21], payload[21:]])
    parser = LogStreamParser(chunked=True)
    frames: list[OutputChunk] = []
    for start in range(0, len(wire), step):
        frames += parser.feed(wire[start : start + step])
    assert frames == EXPECTED
    assert parser.ended and parser.leftover == 0


def test_a_plain_body_is_read_and_a_cut_frame_is_noticed() -> None:
    parser = LogStreamParser(chunked=False)
    data = b"".join(FRAMES)
    assert parser.feed(data[:-2]) == EXPECTED[:-1]
    assert parser.leftover == len(FRAMES[-1]) - 2


async def test_the_engine_log_is_followed_with_streams_apart_and_a_missing_container_is_gone(
    dummy_image: str,
) -> None:
    command = ["docker", "run", "-d", "--pull=never", "--network", "none", "--label", "mleredux.test=docker-logs"]
    script = "printf 'a\\nb'; sleep 0.2; echo c >&2; printf 'd\\n'"
    out = await asyncio.to_thread(
        subprocess.run, [*command, dummy_image, "sh", "-c", script], capture_output=True, text=True, check=True
    )
    container = out.stdout.strip()
    backend = DockerBackend()
    try:
        frames = [chunk async for batch in backend.output(container) for chunk in batch]
        with pytest.raises(ContainerGoneError, match="is gone"):
            [chunk async for batch in backend.output("no-such-container-anywhere") for chunk in batch]
    finally:
        await backend.remove(container)
        await backend.close()
    streams = [(f.stream, f.data) for f in frames]
    assert b"".join(d for s, d in streams if s == "stdout") == b"a\nbd\n"
    assert [d for s, d in streams if s == "stderr"] == [b"c\n"]


def test_whole_line_frames_of_one_stream_are_merged_and_anything_else_stays_a_frame() -> None:
    frames = [
        _frame(1, b"1\n"),
        _frame(1, b"2\r\n"),
        _frame(1, b"3\n"),
        _frame(2, b"e1\n"),
        _frame(2, b"e2\n"),
        _frame(1, b"4\n"),  # alone: a frame of its own
        _frame(1, b"five "),  # no newline: breaks the run of lines
        _frame(1, b"and more\n"),
        _frame(1, b"a\nb\n"),  # two lines in one frame: that run stays frame by frame
        _frame(1, b"6\n"),
    ]
    parser = LogStreamParser(chunked=False)
    chunks = parser.feed(b"".join(frames))
    assert chunks == [
        OutputChunk("stdout", b"1\n2\r\n3\n", 3),
        OutputChunk("stderr", b"e1\ne2\n", 2),
        OutputChunk("stdout", b"4\n"),
        OutputChunk("stdout", b"five "),
        OutputChunk("stdout", b"and more\n"),
        OutputChunk("stdout", b"a\nb\n"),
        OutputChunk("stdout", b"6\n"),
    ]
    assert sum(c.frames for c in chunks) == len(frames)
    assert [c.data for c in chunks[0].split()] == [b"1\n", b"2\r\n", b"3\n"]
    # However the bytes are cut, the same frames come out (merged differently).
    for step in (1, 5, 13):
        parser = LogStreamParser(chunked=True)
        wire = _chunked(frames)
        cut = [c for start in range(0, len(wire), step) for c in parser.feed(wire[start : start + step])]
        assert [p.data for c in cut for p in c.split()] == [p.data for c in chunks for p in c.split()]


async def test_a_log_stream_that_ends_while_its_container_runs_is_taken_as_broken(
    dummy_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over HTTP/1.0 the end of a followed log is the engine closing the connection; only a stop of
    # the container makes that end the real one.
    monkeypatch.setattr("services.runner.backends.docker.LOG_END_SETTLE_SECONDS", 0.3)
    command = ["docker", "run", "-d", "--pull=never", "--network", "none", "--label", "mleredux.test=docker-logs"]
    out = await asyncio.to_thread(
        subprocess.run, [*command, dummy_image, "sh", "-c", "sleep 30"], capture_output=True, text=True, check=True
    )
    container = out.stdout.strip()
    backend = DockerBackend()
    try:
        with pytest.raises(LogStreamError, match="ended while the container is still running"):
            await backend._log_ended(container)
        await asyncio.to_thread(subprocess.run, ["docker", "kill", container], capture_output=True, check=True)
        await backend._log_ended(container)  # stopped: the end is the real one
    finally:
        await backend.remove(container)
        await backend.close()
