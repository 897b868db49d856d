"""The thread that persists the runners' event batches, so the event loop never waits for SQLite.

Batches are written in the order they were handed over, and the batches waiting when the thread
comes round (several runs' output during a backlog) share one transaction: one commit, and any WAL
checkpoint it triggers, per round instead of per batch, all off the loop. A caller's future is
resolved once its batch is committed; only then does the caller tell the run's watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from services.gateway.state import RunDatabase, StoredBatch

#: At most this many events per transaction (a round with more is split): keeps each write short,
#: so the event loop's own occasional writes never wait long for the database's lock.
MAX_EVENTS_PER_TRANSACTION = 5000


@dataclass
class _Write:
    batch: StoredBatch
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None] = field(repr=False)


class EventWriter:
    """One writer thread with a connection of its own. `append` is called on the event loop."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="gateway-event-writer", daemon=True)
            self._thread.start()

    async def append(self, batch: StoredBatch) -> None:
        """Returns once the batch is committed. A cancelled caller still waits for its batch to land
        (it is already on its way): a later write of the same run must never overtake it."""
        self.start()
        loop = asyncio.get_running_loop()
        write = _Write(batch, loop, loop.create_future())
        self._queue.put(write)
        try:
            await asyncio.shield(write.done)
        except asyncio.CancelledError:
            if not write.done.done():
                await asyncio.wait({write.done})
            raise

    async def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def _work(self) -> None:
        db = RunDatabase(self._db_path)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                round_, events, stop = [first], len(first.batch.events), False
                while events < MAX_EVENTS_PER_TRANSACTION:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    round_.append(more)
                    events += len(more.batch.events)
                self._commit(db, round_)
                if stop:
                    return
        finally:
            db.close()

    def _commit(self, db: RunDatabase, round_: list[_Write]) -> None:
        try:
            db.store_batches([w.batch for w in round_])
            outcomes: list[BaseException | None] = [None] * len(round_)
        except sqlite3.Error:
            # One bad batch must not fail the others: each again on its own.
            outcomes = []
            for write in round_:
                try:
                    db.store_batches([write.batch])
                    outcomes.append(None)
                except sqlite3.Error as exc:
                    print(f"run {write.batch.run_id}: could not store events: {exc}", file=sys.stderr, flush=True)
                    outcomes.append(exc)
        for write, error in zip(round_, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                write.loop.call_soon_threadsafe(_resolve, write.done, error)


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
