"""A unix-socket proxy in front of the real Docker engine that holds chosen requests forever.

What a hung engine call looks like to the runner (the `/events` stream a crafted name once opened,
or an engine stuck on a lock), reproduced on demand: every request goes to the real dockerd, except
that a connection whose request names a held path is never answered. Runs in its own thread, so a
runner process (DOCKER_HOST=unix://PATH) or an in-process backend can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

DOCKER_SOCKET = "/var/run/docker.sock"


class HoldingDockerProxy:
    """Forwards to dockerd; a request whose bytes contain one of `hold` is held (never forwarded)."""

    def __init__(self, path: Path, hold: list[bytes]) -> None:
        self.path = path
        self.hold = hold
        self.held = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inspect: bool) -> None:
        try:
            while data := await reader.read(1 << 16):
                if inspect and any(marker in data for marker in self.hold):
                    self.held += 1
                    await asyncio.Event().wait()  # held: the engine never sees it, the client never hears
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(DOCKER_SOCKET)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, inspect=True),
                self._pipe(upstream_reader, client_writer, inspect=False),
            )
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            client_writer.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_unix_server(self._connection, path=str(self.path))

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> HoldingDockerProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self.path.unlink(missing_ok=True)
