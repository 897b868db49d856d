"""A run's lines reach its watchers while the gateway's database cannot commit them (another
connection holds the write lock, as the chore process does while it compacts a finished run): the
gateway reads the runner's stream on within a bound, and every line is stored once the lock goes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2

RunState = common_pb2.RunState
TICKS = 80


async def test_lines_reach_a_watcher_while_the_database_cannot_commit_them(stack: EmbeddedStack) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run = await client.create_run(
            "demo-digits", "dummy", env={"DUMMY_TICKS": str(TICKS), "DUMMY_TICK_SECONDS": "0.05"}
        )
        ticks: list[str] = []
        third_tick = asyncio.Event()

        async def follow() -> None:
            async for event in client.watch(run.run_id):
                if event.log_line.text.startswith("tick "):
                    ticks.append(event.log_line.text)
                    if len(ticks) >= 3:
                        third_tick.set()

        watching = asyncio.create_task(follow())
        try:
            async with asyncio.timeout(120):
                await third_tick.wait()
            lock = sqlite3.connect(stack.home.db_path, isolation_level=None, timeout=30)
            with contextlib.closing(lock):
                lock.execute("BEGIN IMMEDIATE")  # the write lock: no commit of the gateway's lands now
                before = len(ticks)
                await asyncio.sleep(1.5)  # 30 ticks printed meanwhile
                during = len(ticks) - before
                lock.execute("ROLLBACK")
            async with asyncio.timeout(120):
                await watching
        finally:
            watching.cancel()
        # Waiting for each batch's commit let at most one batch through; reading on is bounded
        # (`_CommitsAhead`: 4 batches, each a tick here, plus the one the wait began with).
        assert 3 <= during <= 8, during
        assert (await client.get_run(run.run_id)).state == RunState.RUN_STATE_SUCCEEDED
        stored = [e async for e in client.watch(run.run_id, follow=False)]
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert [e.log_line.text for e in stored if e.log_line.text.startswith("tick ")] == [
            f"tick {i}" for i in range(1, TICKS + 1)
        ]
