"""What a WatchRun stream sends, over a real SQLite file and the gateway's event hub: memory while
caught up (no database read), the database when behind, and a batch that arrives while the database
is read is sent at once, not held until the next one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from mleredux.timestamps import now_timestamp
from mleredux.v1 import common_pb2, gateway_pb2
from services.gateway import run_watch
from services.gateway.orchestration import EventHub
from services.gateway.reads import OffLoopReads
from services.gateway.run_watch import WatchInterrupted, watch_responses
from services.gateway.state import EncodedEvents, RunDatabase


class _GatedReads(OffLoopReads):
    """Real reads that count themselves and, while `gate` is clear, wait for it first."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls = 0
        self.reading = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def encoded_from(self, run_id: str, from_seq: int, limit: int = 1000) -> list[EncodedEvents]:
        self.calls += 1
        pages = await super().encoded_from(run_id, from_seq, limit)  # read before the batch is notified
        self.reading.set()
        await self.gate.wait()
        return pages


def _events(run_id: str, first: int, count: int) -> list[common_pb2.RunEvent]:
    return [
        common_pb2.RunEvent(run_id=run_id, seq=seq, log_line=common_pb2.LogLine(text=f"line {seq}"))
        for seq in range(first, first + count)
    ]


def _batch(events: list[common_pb2.RunEvent]) -> bytes:
    return gateway_pb2.WatchRunResponse(events=events).SerializeToString()


def _seqs(message: gateway_pb2.WatchRunResponse | bytes) -> list[int]:
    if isinstance(message, bytes):
        message = gateway_pb2.WatchRunResponse.FromString(message)
    return [e.seq for e in message.events]


@pytest.fixture
def stored(tmp_path: Path) -> tuple[RunDatabase, gateway_pb2.Run]:
    db = RunDatabase(tmp_path / "gateway.sqlite3")
    run = gateway_pb2.Run(
        run_id="r1",
        competition_id="demo-digits",
        owner="alice",
        state=common_pb2.RunState.RUN_STATE_RUNNING,
        create_time=now_timestamp(),
    )
    db.create_run(run)
    yield db, run
    db.close()


async def _next(stream: AsyncGenerator[gateway_pb2.WatchRunResponse | bytes, None]) -> list[int]:
    return _seqs(await asyncio.wait_for(anext(stream), 10))


async def test_a_batch_notified_while_the_database_is_read_is_sent_without_waiting_for_another(
    stored: tuple[RunDatabase, gateway_pb2.Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, run = stored
    # Were the watcher to sleep through the notify, only the poll would wake it: far past the test's wait.
    monkeypatch.setattr(run_watch, "WATCH_POLL_SECONDS", 60.0)
    hub, reads = EventHub(), _GatedReads(db.path)
    reads.gate.clear()
    stream = watch_responses(hub, reads, db, run, 1)
    try:
        first = asyncio.ensure_future(_next(stream))
        await asyncio.wait_for(reads.reading.wait(), 10)  # it has read the database: nothing there yet
        events = _events("r1", 1, 2)
        hub.notify("r1", events, _batch(events))  # the runner's batch arrives meanwhile
        reads.gate.set()
        assert await first == [1, 2]
    finally:
        await stream.aclose()
        reads.close()


async def test_a_caught_up_watcher_takes_each_batch_from_memory_and_reads_no_database(
    stored: tuple[RunDatabase, gateway_pb2.Run],
) -> None:
    db, run = stored
    stored_events = _events("r1", 1, 3)
    db.append_events(run, stored_events)
    hub, reads = EventHub(), _GatedReads(db.path)
    hub.notify("r1", stored_events[2:], _batch(stored_events[2:]))  # memory holds the newest only
    stream = watch_responses(hub, reads, db, run, 1)
    try:
        assert await _next(stream) == [1, 2, 3]  # behind: from the database
        assert reads.calls == 1
        waiting = asyncio.ensure_future(_next(stream))
        for first in (4, 6, 8):
            events = _events("r1", first, 2)
            await asyncio.sleep(0.01)  # the watcher is waiting for the hub now
            hub.notify("r1", events, _batch(events))
            assert await waiting == [first, first + 1]
            waiting = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.01)
        assert reads.calls == 1  # caught up: never read the database again
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    finally:
        await stream.aclose()
        reads.close()


async def test_an_ended_run_stream_ends_after_its_last_event_and_a_closing_gateway_says_where_to_resume(
    stored: tuple[RunDatabase, gateway_pb2.Run],
) -> None:
    db, run = stored
    events = _events("r1", 1, 2)
    run.state = common_pb2.RunState.RUN_STATE_SUCCEEDED
    db.append_events(run, events)
    hub, reads = EventHub(), _GatedReads(db.path)
    try:
        assert [_seqs(m) async for m in watch_responses(hub, reads, db, run, 1)] == [[1, 2]]
        assert [_seqs(m) async for m in watch_responses(hub, reads, db, run, 2)] == [[2]]
        closing = watch_responses(hub, reads, db, run, 2, closing=lambda: True)
        with pytest.raises(WatchInterrupted, match="resume with from_seq=2"):
            await anext(closing)
    finally:
        reads.close()
