"""The grader socket a run's container gets: answers, rate limits per run, every call on the record."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import grpc

from services.runner.validation_socket import RateLimit, SocketLimits, ValidationAnswer, ValidationSocket

MIB = 1 << 20


async def _post(socket_path: Path, body: bytes) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket_path))) as session,
        session.post("http://grader/validate", data=body) as response,
    ):
        return response.status, json.loads(await response.text())


async def test_calls_are_answered_rate_limited_and_recorded(tmp_path: Path) -> None:
    seen: list[bytes] = []
    recorded: list[tuple[bool, int, int]] = []

    async def validate(body: Path) -> ValidationAnswer:
        content = await asyncio.to_thread(body.read_bytes)
        seen.append(content)
        if content == b"boom":
            raise ConnectionError("grader down")
        return ValidationAnswer(valid=content.startswith(b"id,"), message=f"{len(content)} bytes checked")

    path = tmp_path / "sock" / "grader.sock"
    path.parent.mkdir()
    socket = ValidationSocket(
        path,
        validate,
        lambda answer, size, status: recorded.append((answer.valid, size, status)),
        RateLimit(max_calls=4, min_interval=0.2),
        calls_made=1,  # as after a runner restart: one call was made before
    )
    await socket.start()
    try:
        assert await _post(path, b"id,label\n1,0\n") == (200, {"valid": True, "message": "13 bytes checked"})
        status, answer = await _post(path, b"id,label\n")
        assert status == 429 and "try again in" in str(answer["message"]) and answer["valid"] is False
        await asyncio.sleep(0.25)
        assert (await _post(path, b"boom"))[0] == 503
        await asyncio.sleep(0.25)
        assert await _post(path, b"x,y\n") == (200, {"valid": False, "message": "4 bytes checked"})
        await asyncio.sleep(0.25)
        status, answer = await _post(path, b"id,label\n")
        assert status == 429 and "at most 4 calls per run" in str(answer["message"])
    finally:
        await socket.stop()
    assert seen == [b"id,label\n1,0\n", b"boom", b"x,y\n"]  # rate-limited calls never reach the grader
    assert recorded == [(True, 13, 200), (False, 0, 429), (False, 4, 503), (False, 4, 200), (False, 0, 429)]
    assert not path.exists()


def _record() -> tuple[list[tuple[str, int, int]], Callable[[ValidationAnswer, int, int], None]]:
    recorded: list[tuple[str, int, int]] = []
    return recorded, lambda answer, size, status: recorded.append((answer.message, size, status))


async def _echo(body: Path) -> ValidationAnswer:
    return ValidationAnswer(valid=True, message=f"{os.stat(body).st_size} bytes checked")


def _spooled(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.startswith(".validation-")]


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(str(path))
    except BlockingIOError:  # the backlog is full: the kernel refuses at once
        sock.close()
        raise ConnectionRefusedError("backlog full") from None
    except BaseException:
        sock.close()
        raise
    return sock


async def _read_until_closed(sock: socket.socket, seconds: float) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(seconds):
        while chunk := await loop.sock_recv(sock, 65536):
            data += chunk
    return data


async def test_a_burst_waiting_in_the_backlog_is_held_to_the_cap(tmp_path: Path) -> None:
    """Forty connections queued before the server runs once: it accepts them in one go (`sock_accept`
    does not yield while connections wait), and must still hold no more than the cap open."""
    _recorded, on_call = _record()
    limits = SocketLimits(max_connections=8, idle_timeout_seconds=5.0, listen_backlog=64, refusals_per_window=10**6)
    path = tmp_path / "sock" / "grader.sock"
    path.parent.mkdir()
    server = ValidationSocket(path, _echo, on_call, limits=limits)
    await server.start()
    burst = [_connect(path) for _ in range(40)]  # no await in between: all wait in the backlog
    try:
        replies = await asyncio.gather(*(_read_until_closed(sock, 1.0) for sock in burst), return_exceptions=True)
        refused = [r for r in replies if isinstance(r, bytes) and b" 429 " in r]
        assert server.peak_connections == 8, server.peak_connections
        assert len(refused) == 32
        assert server.open_connections == 8
    finally:
        for sock in burst:
            sock.close()
        await server.stop()
    assert server.open_connections == 0


async def test_connections_beyond_the_cap_are_refused_at_once_and_idle_ones_closed(tmp_path: Path) -> None:
    recorded, on_call = _record()
    limits = SocketLimits(
        max_connections=8,
        idle_timeout_seconds=4.0,
        listen_backlog=4,
        refusal_report_seconds=60,
        refusals_per_window=10**6,
    )
    path = tmp_path / "sock" / "grader.sock"
    path.parent.mkdir()
    server = ValidationSocket(path, _echo, on_call, limits=limits)
    await server.start()
    held: list[socket.socket] = []
    refused_by_kernel = 0
    answered_429: list[bytes] = []
    attempts = 0
    try:
        for _ in range(8):
            held.append(_connect(path))
            await asyncio.sleep(0.02)  # let the server accept it
        await asyncio.sleep(0.2)  # accepted: they count as open
        assert server.open_connections == 8
        # A flood: each one beyond the cap is answered 429 and closed, or refused by the kernel. It
        # stops well inside the idle timeout (on a loaded machine 2,000 take longer), so the held
        # connections are still open when it is checked.
        flood_ends = asyncio.get_running_loop().time() + 2.0
        while attempts < 2000 and asyncio.get_running_loop().time() < flood_ends:
            attempts += 1
            try:
                extra = _connect(path)
            except ConnectionRefusedError:
                refused_by_kernel += 1
                await asyncio.sleep(0.001)
                continue
            answered_429.append(await _read_until_closed(extra, 10))
            extra.close()
        assert server.open_connections == 8 and server.peak_connections == 8
        assert answered_429 and all(b" 429 " in reply and b"too many connections" in reply for reply in answered_429)
        assert len(answered_429) + refused_by_kernel == attempts
        # One event for the whole flood, with its count, not one per connection.
        assert [status for _, _, status in recorded] == [429]
        # Idle connections are closed by the socket after the idle timeout, without a word.
        replies = await asyncio.gather(*(_read_until_closed(sock, 10) for sock in held))
        assert replies == [b""] * 8
        await asyncio.sleep(0.1)
        assert server.open_connections == 0
        # And the socket still serves.
        assert await _post(path, b"id,label\n1,0\n") == (200, {"valid": True, "message": "13 bytes checked"})
    finally:
        for sock in held:
            sock.close()
        await server.stop()


async def test_past_its_refusal_budget_the_socket_stops_accepting_and_the_kernel_refuses(tmp_path: Path) -> None:
    limits = SocketLimits(
        max_connections=2, idle_timeout_seconds=30, listen_backlog=4, refusal_report_seconds=60, refusals_per_window=5
    )
    path = tmp_path / "sock" / "grader.sock"
    path.parent.mkdir()
    recorded, on_call = _record()
    server = ValidationSocket(path, _echo, on_call, limits=limits)
    await server.start()
    sockets: list[socket.socket] = []
    refused_by_kernel = 0
    try:
        for _ in range(2):
            sockets.append(_connect(path))
            await asyncio.sleep(0.02)
        for _ in range(500):
            try:
                sockets.append(_connect(path))
            except ConnectionRefusedError:
                refused_by_kernel += 1
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.5)
        # Five answered 429 (the budget), a backlog's worth waiting unaccepted, the rest refused by the kernel.
        assert server.refused_connections == 5 and server.open_connections == 2
        assert refused_by_kernel >= 500 - 5 - limits.listen_backlog - 2
        assert [status for _, _, status in recorded] == [429]
    finally:
        for sock in sockets:
            sock.close()
        await server.stop()


async def test_a_body_past_the_cap_is_refused_unread_and_a_large_one_never_held_in_memory(tmp_path: Path) -> None:
    recorded, on_call = _record()
    seen: list[int] = []

    async def validate(body: Path) -> ValidationAnswer:
        seen.append(os.stat(body).st_size)
        assert body.parent == tmp_path  # spooled next to the socket's dir, not in the container's view
        return ValidationAnswer(valid=True, message="checked")

    limits = SocketLimits(max_body_bytes=300 * MIB, rate=RateLimit(min_interval=0))
    path = tmp_path / "sock" / "grader.sock"
    path.parent.mkdir()
    server = ValidationSocket(path, validate, on_call, limits=limits)
    await server.start()
    try:
        # Announced too large: answered before a byte of the body is read, and the connection closes.
        sock = _connect(path)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, b"POST /validate HTTP/1.1\r\nHost: g\r\nContent-Length: 400000000\r\n\r\n")
        reply = await _read_until_closed(sock, 10)
        sock.close()
        assert b" 413 " in reply and b"submission too large: 400000000 bytes, at most 314572800 (300 MiB)" in reply
        # 256 MiB sent in 1 MiB pieces: the server's peak memory grows by far less than the body.
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
        chunk = b"1,0\n" * (MIB // 4)

        async def body() -> AsyncIterator[bytes]:
            for _ in range(256):
                yield chunk

        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as session,
            session.post("http://grader/validate", data=body(), headers={"Content-Length": str(256 * MIB)}) as response,
        ):
            assert response.status == 200, await response.text()
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) - before
        assert grown < 64 * MIB, f"peak RSS grew by {grown >> 20} MiB for a 256 MiB body"
        # Chunked bodies (no length to check up front) are refused with a clear reason.
        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as session,
            session.post("http://grader/validate", data=body(), chunked=True) as response,
        ):
            assert response.status == 411 and "Content-Length" in (await response.json())["message"]
    finally:
        await server.stop()
    assert seen == [256 * MIB]
    assert [status for _, _, status in recorded] == [413, 200]
    assert _spooled(tmp_path) == []  # spool files are removed


async def test_a_stalled_body_is_dropped_after_the_idle_timeout(tmp_path: Path) -> None:
    recorded, on_call = _record()
    limits = SocketLimits(idle_timeout_seconds=0.5)
    path = tmp_path / "sock" / "grader.sock"
    path.parent.mkdir()
    server = ValidationSocket(path, _echo, on_call, limits=limits)
    await server.start()
    try:
        sock = _connect(path)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, b"POST /validate HTTP/1.1\r\nContent-Length: 1000\r\n\r\nid,label\n")
        assert await _read_until_closed(sock, 10) == b""
        sock.close()
        await asyncio.sleep(0.1)
        assert server.open_connections == 0
    finally:
        await server.stop()
    assert recorded == []  # nothing was validated
    assert _spooled(tmp_path) == []


async def test_grader_failures_reach_the_agent_as_short_messages_without_grpc_debug_text(tmp_path: Path) -> None:
    """The runner's validator against a grader address where nothing listens (a real channel)."""
    from mleredux.v1 import grader_pb2_grpc
    from services.runner.execution import RunRequest
    from services.runner.servicer import GraderValidator
    from tests.conftest import free_port

    run = RunRequest(
        run_id="r1",
        image="img:1",
        competition_id="demo-digits",
        public_dir=None,
        store_prefix="",
        cpus=1.0,
        memory_bytes=1 << 30,
        gpus=0,
        time_limit_seconds=60,
        pids_limit=64,
        shm_bytes=1 << 20,
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
        validator = GraderValidator(grader_pb2_grpc.GraderServiceStub(channel), run, SocketLimits(), timeout=5)
        _, on_call = _record()
        path = tmp_path / "sock" / "grader.sock"
        path.parent.mkdir()
        server = ValidationSocket(path, validator, on_call)
        await server.start()
        try:
            status, answer = await _post(path, b"id,label\n1,0\n")
        finally:
            await server.stop()
    assert status == 503 and answer["valid"] is False
    message = str(answer["message"])
    assert message == "validation unavailable: the grader is not reachable right now; try again later"
    assert "debug" not in message and "127.0.0.1" not in message and "ipv4" not in message


def test_the_runner_raises_its_open_file_soft_limit_to_the_hard_limit() -> None:
    """In a process started with a low soft limit, as a runner under systemd's default of 1024 would be."""
    script = (
        "import resource\n"
        "from services.runner.servicer import raise_open_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "print(raise_open_file_limit() == (hard, hard) == resource.getrlimit(resource.RLIMIT_NOFILE), hard)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split()[0] == "True", done.stdout + done.stderr


async def test_a_grader_that_cannot_check_the_competition_answers_without_its_paths(tmp_path: Path) -> None:
    """A real grader process whose data dir has no prepared competition, reached by the streaming RPC."""
    from mleredux.v1 import grader_pb2_grpc
    from services.runner.execution import RunRequest
    from services.runner.servicer import GraderValidator
    from tests.conftest import free_port

    data_dir = tmp_path / "grader-data"
    data_dir.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "mleredux", "serve", "grader", "--listen", f"127.0.0.1:{port}"]
    command += ["--data-dir", str(data_dir), "--store", (tmp_path / "store").as_uri()]
    grader = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert grader.stdout is not None
        line = await asyncio.wait_for(grader.stdout.readline(), 60)
        assert line.startswith(b"listening on "), line
        run = RunRequest(
            run_id="r2",
            image="img:1",
            competition_id="demo-digits",
            public_dir=None,
            store_prefix="",
            cpus=1.0,
            memory_bytes=1 << 30,
            gpus=0,
            time_limit_seconds=60,
            pids_limit=64,
            shm_bytes=1 << 20,
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            validator = GraderValidator(grader_pb2_grpc.GraderServiceStub(channel), run, SocketLimits(), timeout=30)
            _, on_call = _record()
            path = tmp_path / "sock" / "grader.sock"
            path.parent.mkdir()
            server = ValidationSocket(path, validator, on_call)
            await server.start()
            try:
                # Three chunks' worth (1 MiB each), streamed to the grader.
                status, answer = await _post(path, b"id,label\n" + b"1,0\n" * (700 << 10))
            finally:
                await server.stop()
    finally:
        grader.terminate()
        await asyncio.wait_for(grader.wait(), 30)
    assert status == 503
    assert answer["message"] == "validation unavailable: the grader cannot check files for this competition right now"
    assert str(data_dir) not in str(answer["message"])
