"""The grader socket mounted into a run's container: `POST /validate` answered by the grader.

The container has no network; this unix socket (its directory is bind-mounted at /run/mleredux) is
its only way out. Answers carry `valid` and a format message, never a score. Calls are rate-limited
per run and each one is recorded as a rollout event of kind `validation`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

#: The largest submission the socket accepts.
MAX_BODY_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ValidationAnswer:
    """What the grader said."""

    valid: bool
    message: str


Validator = Callable[[bytes], Awaitable[ValidationAnswer]]


@dataclass
class RateLimit:
    """At most `max_calls` per run, and no two closer than `min_interval` seconds."""

    max_calls: int = 100
    min_interval: float = 1.0


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
    ) -> None:
        self.socket_path = socket_path
        self._validate = validate
        self._on_call = on_call
        self._limit = rate_limit or RateLimit()
        # A restarted runner passes the calls the run already made, so the limit holds per run.
        self._calls = calls_made
        self._last_call = float("-inf")
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        if self._calls >= self._limit.max_calls:
            message = f"rate limited: at most {self._limit.max_calls} calls per run"
            return self._answer(ValidationAnswer(False, message), 429, 0)
        if now - self._last_call < self._limit.min_interval:
            wait = self._limit.min_interval - (now - self._last_call)
            return self._answer(ValidationAnswer(False, f"rate limited: try again in {wait:.1f}s"), 429, 0)
        self._calls += 1
        self._last_call = now
        body = await request.read()
        if not body:
            return self._answer(ValidationAnswer(False, "empty request body: POST the submission CSV"), 400, 0)
        try:
            answer = await self._validate(body)
        except Exception as exc:  # the grader is down: say so, the agent may retry
            return self._answer(ValidationAnswer(False, f"validation unavailable: {exc}"), 503, len(body))
        return self._answer(answer, 200, len(body))

    def _answer(self, answer: ValidationAnswer, status: int, size: int) -> web.Response:
        self._on_call(answer, size, status)
        return web.Response(
            status=status,
            text=json.dumps({"valid": answer.valid, "message": answer.message}),
            content_type="application/json",
        )

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/validate", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.socket_path.unlink(missing_ok=True)
        # A unix socket path holds at most 107 bytes, and work dirs can be deeper than that: bind
        # through the directory's file descriptor, whose /proc path is short whatever the real one.
        directory = os.open(self.socket_path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            site = web.UnixSite(self._runner, f"/proc/self/fd/{directory}/{self.socket_path.name}")
            await site.start()
        finally:
            os.close(directory)
        # The agent runs as an unprivileged user: it must be able to connect.
        os.chmod(self.socket_path, 0o666)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.socket_path.unlink(missing_ok=True)
