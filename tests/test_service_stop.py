"""A service stops cleanly on SIGTERM however soon after its start it comes.

Two ways it did not: the signal handlers were installed after the `listening on` line, so a SIGTERM
sent as soon as the line appeared met the default action and killed the process (about half the
tries here); and the dependency checks awaited `asyncio.wait_for`, which on Python 3.11 returns the
check's result when the check finishes just as the task is cancelled, so the cancel was lost and the
stopping service waited on the health loop for good (once in about ten tries).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from grpc_health.v1 import health as health_aio

from services.operations import follow_dependencies

#: Starts and stops; without the fixes, all of them clean was a chance of about one in 250.
TRIES = 8


def test_a_grader_sigtermed_as_soon_as_it_listens_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    command = [sys.executable, "-m", "mleredux", "serve", "grader", "--listen", "127.0.0.1:0"]
    command += ["--data-dir", str(tmp_path / "data"), "--store", f"file://{tmp_path / 'store'}"]
    codes = []
    for _ in range(TRIES):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        try:
            line = process.stdout.readline()
            assert line.startswith("listening on "), line + process.stdout.read()
            process.send_signal(signal.SIGTERM)
            codes.append(process.wait(timeout=30))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
    assert codes == [0] * TRIES


async def test_the_dependency_loop_ends_when_cancelled_as_a_check_finishes() -> None:
    finish = asyncio.get_running_loop().create_future()

    async def check() -> str | None:
        await finish
        return None

    health = health_aio.HealthServicer()
    task = asyncio.create_task(follow_dependencies([("store", check)], health, ["svc"], interval_seconds=600))
    for _ in range(3):
        await asyncio.sleep(0)  # the loop is inside the check now
    assert not task.done()
    finish.set_result(None)  # the check finishes and the task is cancelled in the same turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
