"""The thread that writes run state — the runners' event batches, the gateway's own status events,
new runs and changed run rows — so the event loop never waits for SQLite (neither for a commit nor
for the database's lock while another connection writes).

Writes land in the order they were handed over, and the writes waiting when the thread comes round
(several runs' output during a backlog) share one transaction: one commit, and any WAL checkpoint it
triggers, per round instead of per write, all off the loop. A write's `then` callback (telling the
run's watchers) runs on the loop once the write is committed, in commit order; `append` and `save`
return after that, `enqueue` at once (its write is still ordered before every later one, and
`flush` waits for all writes handed over so far).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mleredux.v1 import gateway_pb2
from services.gateway.state import RunDatabase, RunRow, StoredBatch, StoredWrite

#: At most this many events per transaction (a round with more is split): keeps each write short,
#: so the event loop's own occasional writes never wait long for the database's lock.
MAX_EVENTS_PER_TRANSACTION = 5000


@dataclass
class _Write:
    batch: StoredWrite
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None] = field(repr=False)
    then: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.batch.events) if isinstance(self.batch, StoredBatch) else 1


class EventWriter:
    """One writer thread with a connection of its own. `append` is called on the event loop."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._last: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="gateway-event-writer", daemon=True)
            self._thread.start()

    def enqueue(self, batch: StoredWrite, then: Callable[[], None] | None = None) -> asyncio.Future[None]:
        """Hands a write over without waiting; `then` runs on the loop once it is committed. A write
        that fails is reported on stderr by the thread (and through the returned future)."""
        self.start()
        loop = asyncio.get_running_loop()
        write = _Write(batch, loop, loop.create_future(), then)
        write.done.add_done_callback(_retrieve)
        self._last = write.done
        self._queue.put(write)
        return write.done

    async def append(self, batch: StoredWrite, then: Callable[[], None] | None = None) -> None:
        """Returns once the write is committed (and `then` has run). A cancelled caller still waits for
        its write to land (it is already on its way): a later write of the same run must never overtake it."""
        await settled(self.enqueue(batch, then))

    async def save(self, run: gateway_pb2.Run, *, new: bool = False) -> None:
        """Writes the run's row (inserts it when `new`) after everything handed over before."""
        await self.append(RunRow.of(run, new=new))

    async def flush(self) -> None:
        """Returns once every write handed over so far is committed (or has failed)."""
        if self._last is not None and not self._last.done():
            with contextlib.suppress(Exception):
                await settled(self._last)

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
                round_, events, stop = [first], first.size, False
                while events < MAX_EVENTS_PER_TRANSACTION:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    round_.append(more)
                    events += more.size
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
                    print(f"{_what(write.batch)}: could not store it: {exc}", file=sys.stderr, flush=True)
                    outcomes.append(exc)
        for write, error in zip(round_, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                write.loop.call_soon_threadsafe(_resolve, write, error)


def _resolve(write: _Write, error: BaseException | None) -> None:
    if write.done.done():
        return
    if error is None:
        write.done.set_result(None)  # its waiter resumes after `then`: set_result only schedules it
        if write.then is not None:
            write.then()
    else:
        write.done.set_exception(error)


def _retrieve(future: asyncio.Future[None]) -> None:
    """A write nobody awaits has its error reported by the thread already; marks it as seen."""
    if not future.cancelled():
        future.exception()


async def settled(future: asyncio.Future[None]) -> None:
    """Waits for a write handed over with `enqueue`; a cancelled caller still waits for it to land
    (a later write of the same run must never overtake it), then is cancelled."""
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        if not future.done():
            await asyncio.wait({future})
        raise


def _what(write: StoredWrite) -> str:
    if isinstance(write, StoredBatch):
        return f"run {write.run_id}: {len(write.events)} events"
    if isinstance(write, RunRow):
        return f"run {write.run_id}: its row"
    return "an evaluation's state"
