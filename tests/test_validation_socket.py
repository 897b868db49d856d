"""The grader socket a run's container gets: answers, rate limits per run, every call on the record."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from services.runner.validation_socket import RateLimit, ValidationAnswer, ValidationSocket


async def _post(socket_path: Path, body: bytes) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket_path))) as session,
        session.post("http://grader/validate", data=body) as response,
    ):
        return response.status, json.loads(await response.text())


async def test_calls_are_answered_rate_limited_and_recorded(tmp_path: Path) -> None:
    seen: list[bytes] = []
    recorded: list[tuple[bool, int, int]] = []

    async def validate(content: bytes) -> ValidationAnswer:
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
