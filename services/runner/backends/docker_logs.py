"""Following a container's log straight off the Docker engine's unix socket.

A followed log is Docker's multiplexed stream, one frame per write of the container (`stream id |
3 zero bytes | u32 length | data`), about one per line. Through aiohttp every frame costs a trip
through its Python stream reader (the read tops out near 110k lines/s here, below what the engine
serves); reading the socket in large blocks and undoing the framing in one pass costs about a
quarter of that CPU. The request is HTTP/1.0, so the engine sends the stream as it is, ended by
closing the connection: over HTTP/1.1 it wraps every frame in a chunk of its own, and undoing that
was 0.5 µs of the runner's ~2 µs per line. Chunked answers are still understood. A stream that ends
while its container still runs has broken (`DockerBackend.output` checks). This module does only
that: one GET, no keep-alive, anything but a 200 answer is an error naming the engine's message.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Literal
from urllib.parse import quote

from mleredux.errors import MleReduxError
from services.runner.backends.base import ContainerGoneError, OutputChunk

_FRAME = struct.Struct(">BxxxL")
READ_BYTES = 1 << 18
#: A read smaller than this pauses reading for COALESCE_SECONDS (adds at most that to a line's latency).
COALESCE_BELOW = 32 << 10
COALESCE_SECONDS = 0.001


_STREAMS: tuple[Literal["stdout"], Literal["stderr"]] = ("stdout", "stderr")


def merge_lines(lines: Sequence[bytes | bytearray], stream_id: int, frames: list[OutputChunk]) -> None:
    """Appends `lines` (frames of stream `stream_id`, 1 or 2, that each end with a newline) as one
    chunk if each holds one line (docker_log_file.py merges the file's entries the same way)."""
    stream = _STREAMS[stream_id == 2]
    if len(lines) == 1:
        frames.append(OutputChunk(stream, bytes(lines[0])))
        return
    data = b"".join(lines)
    if data.count(b"\n") == len(lines):
        frames.append(OutputChunk(stream, data, len(lines)))
    else:  # a frame with several lines: its frames stay apart (a line's position is its frame's)
        frames += [OutputChunk(stream, bytes(line)) for line in lines]


class LogStreamError(MleReduxError):
    """The engine's log stream broke or answered with an error."""

    grpc_code = "UNAVAILABLE"


class LogStreamParser:
    """Undoes chunked transfer encoding (when `chunked`) and Docker's stream multiplexing."""

    def __init__(self, *, chunked: bool) -> None:
        self.chunked = chunked
        self.ended = False
        self._raw = bytearray()  # bytes from the socket not yet de-chunked
        self._payload = bytearray()  # de-chunked bytes not yet split into frames

    def feed(self, data: bytes) -> list[OutputChunk]:
        if not self.chunked:
            self._payload += data
            return self._frames()
        if self.ended:
            return []  # the last chunk's trailer
        raw = self._raw
        raw += data
        payload = self._payload
        find = raw.find
        position, size = 0, len(raw)
        while position < size:
            line_end = find(b"\r\n", position)
            if line_end < 0:
                break
            try:
                length = int(raw[position:line_end], 16)
            except ValueError:  # a chunk extension (Docker sends none)
                length = int(raw[position:line_end].split(b";", 1)[0], 16)
            start = line_end + 2
            if length == 0:
                self.ended = True
                position = size
                break
            if start + length + 2 > size:
                break
            payload += raw[start : start + length]
            position = start + length + 2
        del raw[:position]
        return self._frames()

    def _frames(self) -> list[OutputChunk]:
        """The whole frames received so far. Consecutive frames of one stream that each end with a
        newline are merged into one chunk when each holds just that one line (Docker writes a line
        a frame; per line, only this loop's few steps are left in Python)."""
        payload = self._payload
        frames: list[OutputChunk] = []
        unpack = _FRAME.unpack_from
        position, size = 0, len(payload)
        lines: list[bytes | bytearray] = []  # whole-line frames of `lines_stream` not yet made a chunk
        lines_stream = 0
        while size - position >= 8:
            stream_id, length = unpack(payload, position)
            start = position + 8
            end = start + length
            if end > size:
                break
            if length and payload[end - 1] == 10:  # ends with a newline
                if stream_id != lines_stream and lines:
                    merge_lines(lines, lines_stream, frames)
                    lines = []
                lines_stream = stream_id
                lines.append(payload[start:end])
            else:
                if lines:
                    merge_lines(lines, lines_stream, frames)
                    lines = []
                frames.append(OutputChunk(_STREAMS[stream_id == 2], bytes(payload[start:end])))
            position = end
        if lines:
            merge_lines(lines, lines_stream, frames)
        del payload[:position]
        return frames

    @property
    def leftover(self) -> int:
        """Bytes of an incomplete frame or chunk (non-zero at the end means the stream broke)."""
        return len(self._raw) + len(self._payload)


class _LogProtocol(asyncio.BufferedProtocol):
    """Receives into one preallocated buffer (asyncio's default transport allocates 256 KiB per
    read, which costs more than the few KiB a followed log delivers) and hands on whole blocks."""

    def __init__(self) -> None:
        self._buffer = bytearray(READ_BYTES)
        self.blocks: deque[bytes] = deque()
        self.ended = False
        self.error: BaseException | None = None
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._resting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.blocks.append(bytes(self._buffer[:nbytes]))
        transport = self._transport
        if transport is not None and not self._paused:
            if len(self.blocks) > 64:
                self._paused = True  # the reader is behind: let the socket buffer fill, Docker waits
                transport.pause_reading()
            elif nbytes < COALESCE_BELOW and not self._resting:
                # Docker writes a line at a time; a short rest lets a few hundred gather per read.
                self._resting = True
                transport.pause_reading()
                asyncio.get_running_loop().call_later(COALESCE_SECONDS, self._rested)
        self._wake()

    def _rested(self) -> None:
        self._resting = False
        if self._transport is not None and not self._paused and not self.ended:
            self._transport.resume_reading()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self) -> bytes:
        """The next block; b"" at the end of the stream."""
        while not self.blocks:
            if self.ended:
                if self.error is not None:
                    raise self.error
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        if self._paused and len(self.blocks) <= 8 and self._transport is not None:
            self._paused = False
            if not self._resting:
                self._transport.resume_reading()
        return self.blocks.popleft()


async def follow_logs(socket_path: str, container_id: str, api_version: str = "") -> AsyncIterator[list[OutputChunk]]:
    """The container's stdout and stderr frames from its start, following until it ends."""
    prefix = f"/{api_version}" if api_version else ""
    path = f"{prefix}/containers/{quote(container_id)}/logs?stdout=1&stderr=1&follow=1"
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_unix_connection(_LogProtocol, socket_path)
    except OSError as exc:
        raise LogStreamError(f"Docker engine at {socket_path} does not answer: {exc}") from exc
    try:
        transport.write(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            block = await protocol.read()
            if not block:
                raise LogStreamError(f"Docker engine closed the log stream of {container_id[:12]} before answering")
            head += block
        head, _, rest = head.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        parser = LogStreamParser(chunked=headers.get("transfer-encoding", "").lower() == "chunked")
        if status != 200:
            body = rest
            while len(body) < 64 * 1024 and (block := await protocol.read()):
                body += block
            raise _http_error(status, body, parser.chunked, container_id)
        block = rest
        while True:
            if block:
                frames = parser.feed(block)
                if frames:
                    yield frames
            if parser.ended:
                break
            block = await protocol.read()
            if not block:
                break
        if parser.leftover or (parser.chunked and not parser.ended):
            raise LogStreamError(f"the log stream of container {container_id[:12]} broke mid-frame")
    except (OSError, ValueError, IndexError) as exc:
        raise LogStreamError(f"the log stream of container {container_id[:12]} broke: {exc}") from exc
    finally:
        transport.close()


def _http_error(status: int, body: bytes, chunked: bool, container_id: str) -> MleReduxError:
    if chunked:
        body = body.split(b"\r\n", 1)[-1]
    try:
        message = str(json.loads(body.split(b"\r\n")[0]).get("message", ""))
    except ValueError:
        message = body[:300].decode("utf-8", "replace")
    if status == 404:
        return ContainerGoneError(f"container {container_id[:12]} is gone: {message}")
    return LogStreamError(f"cannot read the logs of container {container_id[:12]}: HTTP {status} {message}")
