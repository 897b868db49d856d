"""The grader socket mounted into a run's container: `POST /validate` answered by the grader.

The container has no network; this unix socket (its directory is bind-mounted at /run/mleredux) is
its only way out, and the agent on the other side may be hostile. So everything it can make the
runner spend is bounded per run (`SocketLimits`, documented in docs/limits.md):

- connections: at most `max_connections` open at once; one more is answered 429 and closed at once,
  at most `refusals_per_window` times per `refusal_report_seconds`; beyond that, and beyond the short
  listen backlog, a flood is refused by the kernel rather than handled by us;
- time: a connection that sends no request for `idle_timeout_seconds` is closed, and so is one
  whose body stalls for that long or takes longer than `body_timeout_seconds` in all;
- bytes: a request head is at most `max_head_bytes`; a body is streamed to a spool file next to the
  socket (never whole in memory) and refused with 413 past `max_body_bytes`, before it is read;
- calls: one validation at a time, at most `rate.max_calls` per run, `rate.min_interval` apart.

Answers carry `valid` and a format message, never a score, never an internal error text. Each call
is recorded as a rollout event of kind `validation`; refused connections are recorded at most once
per `refusal_report_seconds`, with their count.

The HTTP/1.1 spoken here is the small part clients of this socket use (`mleredux-validate`, Python's
http.client, aiohttp, curl): a request line, headers, a Content-Length body, keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("mleredux.runner.validation")

MIB = 1 << 20

#: Bytes read from the socket per step while a body is spooled.
_READ_BYTES = 256 << 10
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class ValidationAnswer:
    """What the grader said."""

    valid: bool
    message: str


class ValidationUnavailableError(Exception):
    """The grader could not answer; the message is short and safe to show the agent."""


#: Checks the submission spooled at the given path (its whole body).
Validator = Callable[[Path], Awaitable[ValidationAnswer]]


@dataclass
class RateLimit:
    """At most `max_calls` per run, and no two closer than `min_interval` seconds."""

    max_calls: int = 100
    min_interval: float = 1.0


@dataclass(frozen=True)
class SocketLimits:
    """What one run's socket may cost the runner (defaults in docs/limits.md)."""

    max_connections: int = 8
    idle_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 120.0
    max_head_bytes: int = 16 << 10
    max_body_bytes: int = 100 * MIB
    listen_backlog: int = 16
    refusal_report_seconds: float = 10.0
    refusals_per_window: int = 50
    rate: RateLimit = field(default_factory=RateLimit)


class _Refused(Exception):
    """A request answered with an error status before its body is read."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    keep_alive: bool


class ValidationSocket:
    """An HTTP server on a unix socket for one run."""

    def __init__(
        self,
        socket_path: Path,
        validate: Validator,
        on_call: Callable[[ValidationAnswer, int, int], None],
        rate_limit: RateLimit | None = None,
        *,
        calls_made: int = 0,
        limits: SocketLimits | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self.socket_path = socket_path
        self._validate = validate
        self._on_call = on_call
        # The runner's validator carries the limits of its settings (see services/runner/servicer.py).
        self.limits = limits or getattr(validate, "socket_limits", None) or SocketLimits()
        self._rate = rate_limit or self.limits.rate
        # Next to the run's work dir by default (the socket lives in WORK/sock/), never in the container's view.
        self._spool_dir = spool_dir or socket_path.parent.parent
        # A restarted runner passes the calls the run already made, so the limit holds per run.
        self._calls = calls_made
        self._last_call = float("-inf")
        self._busy = False
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.open_connections = 0
        self.peak_connections = 0
        self.refused_connections = 0
        self._refusals_unreported = 0
        self._last_refusal_report = float("-inf")

    # -- connections ---------------------------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        """Our own accept loop, so a flood costs what we decide: connections over the cap are answered
        429 within a budget of `refusals_per_window`; past it nothing more is accepted until a slot
        frees or the window turns, and the kernel refuses at the backlog instead, at no cost to us."""
        loop = asyncio.get_running_loop()
        limits = self.limits
        window_start, refused_in_window = time.monotonic(), 0
        while True:
            now = time.monotonic()
            if now - window_start >= limits.refusal_report_seconds:
                window_start, refused_in_window = now, 0
            full = self.open_connections >= limits.max_connections
            if full and refused_in_window >= limits.refusals_per_window:
                await asyncio.sleep(0.05)
                continue
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                # Out of descriptors (EMFILE/ENFILE) or memory: back off instead of spinning and logging.
                log.warning("validation socket of %s: accept failed: %s", self._run_name, exc)
                await asyncio.sleep(0.1)
                continue
            if self.open_connections >= limits.max_connections:
                refused_in_window += 1
                self._refuse_connection(conn)
                continue
            # Counted here, not when its task first runs: `sock_accept` returns at once while connections
            # wait, so a flood would otherwise be accepted whole before any task had counted itself
            # (1,040 held open at once in one run, against the cap of 8).
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)
            task = asyncio.create_task(self._connection(conn))
            self._handlers.add(task)
            task.add_done_callback(functools.partial(self._connection_ended, conn))

    @property
    def _run_name(self) -> str:
        return self.socket_path.parent.parent.name

    async def _connection(self, conn: socket.socket) -> None:
        """Serves one accepted connection (already counted in `open_connections`, uncounted here)."""
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn, limit=self.limits.max_head_bytes)
            while True:
                keep_alive = await self._exchange(reader, writer)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the agent hung up or went quiet: nothing to answer
        except asyncio.CancelledError:
            raise
        except Exception:  # never a crash of the runner for one connection
            log.exception("validation socket of %s: unexpected error", self._run_name)
        finally:
            if writer is not None:
                writer.transport.abort()
            else:
                conn.close()

    def _connection_ended(self, conn: socket.socket, task: asyncio.Task[None]) -> None:
        """Uncounts a connection however its task ended, even cancelled before it ever ran (then its
        socket is closed here: no `finally` of the task did it)."""
        self._handlers.discard(task)
        self.open_connections -= 1
        if task.cancelled():
            conn.close()

    def _refuse_connection(self, conn: socket.socket) -> None:
        """Over the connection cap: a short 429, then closed; recorded once per report interval."""
        self.refused_connections += 1
        self._refusals_unreported += 1
        limit = self.limits.max_connections
        message = f"too many connections: at most {limit} open at once per run"
        with contextlib.suppress(OSError):
            conn.send(_response(429, ValidationAnswer(False, message), keep_alive=False), socket.MSG_DONTWAIT)
        conn.close()
        now = time.monotonic()
        if now - self._last_refusal_report >= self.limits.refusal_report_seconds:
            count, self._refusals_unreported = self._refusals_unreported, 0
            self._last_refusal_report = now
            self._on_call(ValidationAnswer(False, f"{message} ({count} refused since the last report)"), 0, 429)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its answer; True when the connection may carry another."""
        limits = self.limits
        try:
            async with asyncio.timeout(limits.idle_timeout_seconds):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await self._send(writer, 400, "incomplete request")
            return False
        except asyncio.LimitOverrunError:
            message = f"request head larger than {limits.max_head_bytes} bytes"
            await self._send(writer, 431, message)
            return False
        except TimeoutError:
            return False  # idle: closed without a word (the agent sent nothing to answer)
        try:
            request = _parse_head(head)
        except _Refused as refused:
            await self._send(writer, refused.status, refused.message)
            return False
        try:
            if request.target.split("?", 1)[0] != "/validate":
                raise _Refused(404, "not found: POST the submission to /validate")
            if request.method != "POST":
                raise _Refused(405, "method not allowed: POST the submission to /validate")
            length = _content_length(request.headers)
        except _Refused as refused:
            # Whatever body follows is unread: the connection cannot carry another request.
            await self._send(writer, refused.status, refused.message)
            return False
        status, answer, size, consumed = await self._validate_body(reader, writer, request, length)
        # An answer given before the body was read (413, 429): the connection cannot go on either.
        keep_alive = request.keep_alive and (consumed or length == 0)
        await self._send_answer(writer, status, answer, size, keep_alive)
        return keep_alive

    async def _validate_body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: _Request, length: int
    ) -> tuple[int, ValidationAnswer, int, bool]:
        """(status, answer, bytes, whether the body was read)."""
        limits = self.limits
        now = time.monotonic()
        if self._calls >= self._rate.max_calls:
            return 429, ValidationAnswer(False, f"rate limited: at most {self._rate.max_calls} calls per run"), 0, False
        if now - self._last_call < self._rate.min_interval:
            wait = self._rate.min_interval - (now - self._last_call)
            return 429, ValidationAnswer(False, f"rate limited: try again in {wait:.1f}s"), 0, False
        if self._busy:
            return 429, ValidationAnswer(False, "rate limited: another validation of this run is in progress"), 0, False
        self._calls += 1
        self._last_call = now
        if length > limits.max_body_bytes:
            message = (
                f"submission too large: {length} bytes, at most {limits.max_body_bytes} "
                f"({limits.max_body_bytes / MIB:g} MiB) are accepted"
            )
            return 413, ValidationAnswer(False, message), length, False
        if length == 0:
            return 400, ValidationAnswer(False, "empty request body: POST the submission CSV"), 0, True
        unstorable = "validation unavailable: the runner cannot store the file right now; try again later"
        # The spool file's creation, writes, close and removal are off the loop: under a backlog each
        # of them could wait 100 ms and more for the filesystem while Docker wrote beside it, and the
        # loop carries every run's live lines.
        try:
            fd, spool_name = await asyncio.to_thread(
                tempfile.mkstemp, prefix=".validation-", suffix=".body", dir=self._spool_dir
            )
        except OSError as exc:
            log.warning("validation socket of %s: cannot spool a body: %s", self._run_name, exc)
            return 503, ValidationAnswer(False, unstorable), length, False
        self._busy = True
        spool = Path(spool_name)
        try:
            try:
                out = os.fdopen(fd, "wb")
                try:
                    if request.headers.get("expect", "").lower() == "100-continue":
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    async with asyncio.timeout(limits.body_timeout_seconds):
                        remaining = length
                        while remaining:
                            async with asyncio.timeout(limits.idle_timeout_seconds):
                                data = await reader.read(min(remaining, _READ_BYTES))
                            if not data:
                                raise ConnectionResetError("the body ended early")
                            await asyncio.to_thread(out.write, data)
                            remaining -= len(data)
                finally:
                    await asyncio.shield(asyncio.to_thread(out.close))
            except (ConnectionError, TimeoutError):
                raise  # the agent's side: the connection just closes
            except OSError as exc:  # the runner's disk (full, quota): the agent is told, briefly
                log.warning("validation socket of %s: cannot spool a body: %s", self._run_name, exc)
                return 503, ValidationAnswer(False, unstorable), length, False
            try:
                answer = await self._validate(spool)
            except ValidationUnavailableError as exc:
                return 503, ValidationAnswer(False, f"validation unavailable: {exc}"), length, True
            except Exception:  # never an internal text to the agent; the log has it, rate-limited
                log.exception("validation of %s failed", self._run_name)
                message = "validation unavailable: internal error, try again later"
                return 503, ValidationAnswer(False, message), length, True
            return 200, answer, length, True
        finally:
            self._busy = False
            await asyncio.shield(asyncio.to_thread(spool.unlink, missing_ok=True))

    async def _send_answer(
        self, writer: asyncio.StreamWriter, status: int, answer: ValidationAnswer, size: int, keep_alive: bool
    ) -> None:
        self._on_call(answer, size, status)
        writer.write(_response(status, answer, keep_alive=keep_alive))
        async with asyncio.timeout(self.limits.idle_timeout_seconds):
            await writer.drain()

    async def _send(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        """An HTTP error before any validation (not a call: not recorded); the connection then closes."""
        writer.write(_response(status, ValidationAnswer(False, message), keep_alive=False))
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(self.limits.idle_timeout_seconds):
                await writer.drain()

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # A unix socket path holds at most 107 bytes, and work dirs can be deeper than that: bind
            # through the directory's file descriptor, whose /proc path is short whatever the real one.
            directory = os.open(self.socket_path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                listener.bind(f"/proc/self/fd/{directory}/{self.socket_path.name}")
            finally:
                os.close(directory)
            # A short backlog: connections beyond it are refused by the kernel, costing us nothing.
            listener.listen(self.limits.listen_backlog)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._acceptor = asyncio.create_task(self._accept(listener), name=f"validation-accept-{self._run_name}")
        # The agent runs as an unprivileged user: it must be able to connect.
        os.chmod(self.socket_path, 0o666)

    async def stop(self) -> None:
        tasks = [*([self._acceptor] if self._acceptor is not None else []), *self._handlers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._acceptor = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.socket_path.unlink(missing_ok=True)


def _parse_head(head: bytes) -> _Request:
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text[:-4].split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise _Refused(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise _Refused(400, "malformed request line: HTTP/1.x expected")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _Refused(400, "malformed header line")
        headers[name.lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return _Request(method, target, headers, keep_alive)


def _content_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise _Refused(411, "send the submission with a Content-Length (chunked bodies are not accepted)")
    value = headers.get("content-length")
    if value is None:
        raise _Refused(411, "Content-Length required: POST the submission CSV")
    if not value.isdigit() or len(value) > 18:
        raise _Refused(400, "malformed Content-Length")
    return int(value)


def _response(status: int, answer: ValidationAnswer, *, keep_alive: bool) -> bytes:
    body = json.dumps({"valid": answer.valid, "message": answer.message}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body
