"""A run's event stream: numbering events in one order, journaling them, and batching them for followers.

Every source (stdout/stderr lines, the rollout file, validation calls, status changes) goes through
`EventSequencer`, which gives each event the next seq. Events emitted during one turn of the event
loop are flushed together (a busy stream's within `flush_delay`): written to the run's journal as one
batch, then handed to every follower.
A gRPC message costs about 150 µs here, so one line per message would cap a stream near 6k lines/s;
a turn of the loop typically holds everything one read of the Docker log stream delivered.

Sources keep their position in `EventSequencer.cursor` (updated in the same synchronous step as the
emit), so the cursor written with a flush always describes exactly the events flushed: a restarted
runner resumes each source from there (see journal.py).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from mleredux.timestamps import now_timestamp
from mleredux.v1 import common_pb2
from services.runner.journal import JournalFile, JournalRecord, LoadedJournal
from services.runner.line_encoding import encode_log_lines


class EventSequencer:
    """Numbers a run's events gap-free from `first_seq`, journals them, and serves them to followers.

    Followers (`batches(after_seq)`) can start anywhere: batches still in memory are handed out as
    they are, older ones are read back from the journal. Without a journal every batch stays in memory.
    """

    def __init__(
        self,
        run_id: str,
        first_seq: int,
        *,
        journal: JournalFile | None = None,
        loaded: LoadedJournal | None = None,
        max_batch: int = 2000,
        max_batch_text: int = 1 << 20,
        keep_batches: int = 64,
        flush_delay: float = 0.002,
        quiet_after: float = 0.01,
    ) -> None:
        self.run_id = run_id
        self.first_seq = first_seq
        self.next_seq = first_seq
        #: A batch holds at most `max_batch` events, and is closed once its lines' text reaches
        #: `max_batch_text` characters (so it holds at most that plus one line: a line is at most
        #: 64 KiB, output_capture.MAX_LINE_BYTES). Every batch is a gRPC message to the gateway and
        #: to each watcher: a 300,000-line run cost the gateway 1.30-1.34 CPU-s in batches of 500
        #: and 0.75-1.04 in batches of up to 2,000 (benchmarks/README.md, twelfth pass).
        self.max_batch = max_batch
        self.max_batch_text = max_batch_text
        self._text = 0  # characters of line text in the open batch
        #: How long the first event of a flush waits for company: a fast agent's lines then go out
        #: hundreds per message instead of a few, for at most this much added latency.
        self.flush_delay = flush_delay
        #: A stream that has flushed nothing for this long is quiet: its next event goes out at the
        #: end of the loop turn that made it, without the wait. Under load the wait is not 2 ms but
        #: a second wake-up of the runner, which waits for a CPU again (a line's p90 in the runner
        #: was 8 ms with the wait); a busy stream still batches, after its first event.
        self.quiet_after = quiet_after
        self._flushed_at = float("-inf")
        #: Batches kept in memory for followers (older ones are read back from the journal): with
        #: the default `max_batch`, the newest 128,000 events at most.
        self.keep_batches = keep_batches
        #: Where each source stood after the last emitted event (JSON-serialisable values only).
        self.cursor: dict[str, Any] = {}
        self.journal_error: str | None = None
        self._journal = journal
        self._records: list[JournalRecord] = []
        self._last_seqs: list[int] = []
        self._pending: list[common_pb2.RunEventBatch] = []
        self._dirty = False
        self._closed = False
        self._flush_handle: asyncio.Handle | None = None
        self._now = now_timestamp()
        self._count = max_batch  # no open batch yet
        self._add_event: Callable[..., common_pb2.RunEvent] = common_pb2.RunEventBatch().events.add
        self._evicted = 0
        self._wake = asyncio.Event()
        if loaded is not None:
            self._records = list(loaded.records)
            self._last_seqs = [r.last_seq for r in self._records]
            self.cursor = dict(loaded.cursor)
            self._closed = loaded.closed
            if self._records:
                self.next_seq = self._records[-1].last_seq + 1
            self._evict()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_seq(self) -> int:
        """The last seq given out (first_seq - 1 before any event)."""
        return self.next_seq - 1

    def events(self) -> list[common_pb2.RunEvent]:
        """Every committed event (for recovery scans and tests; reads evicted batches back)."""
        return [e for r in self._records for e in self._batch(r).events]

    # -- producing ---------------------------------------------------------------------------------

    def touch(self) -> None:
        """Takes the current time for the events that follow (what is captured together, e.g. one
        read of the Docker log, shares one time: a Timestamp per event would cost more than the line)."""
        nanos = time.time_ns()
        self._now = Timestamp(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)

    def _add(self) -> common_pb2.RunEvent:
        if self._closed:
            raise RuntimeError(f"run {self.run_id}: event emitted after the event stream was closed")
        if self._count >= self.max_batch or self._text >= self.max_batch_text:
            if self._pending:
                self._schedule(urgent=True)  # a full batch goes out as soon as its producer step ends
            batch = common_pb2.RunEventBatch()
            self._pending.append(batch)
            self._add_event = batch.events.add
            self._count = self._text = 0
        if self._flush_handle is None:
            self._schedule()
        event = self._add_event(run_id=self.run_id, seq=self.next_seq, time=self._now)
        self.next_seq += 1
        self._count += 1
        return event

    def emit(self, **payload: Any) -> common_pb2.RunEvent:
        """Adds one event, e.g. `emit(rollout=RolloutEvent(...))`."""
        self.touch()
        event = self._add()
        for name, message in payload.items():
            getattr(event, name).CopyFrom(message)
        return event

    def emit_line(self, stream: int, text: str, partial: bool) -> None:
        """The hot path: one log line, built in place, at the time of the last `touch`."""
        line = self._add().log_line
        line.stream = stream  # type: ignore[assignment]
        line.text = text
        self._text += len(text)
        if partial:
            line.partial = True

    def emit_lines(self, stream: int, texts: list[str]) -> None:
        """`emit_line` for whole lines of one stream, all at the time of the last `touch`."""
        run_id, now = self.run_id, self._now
        start, total = 0, len(texts)
        while start < total:
            first = self._add().log_line  # checks, opens a batch if need be, schedules the flush
            first.stream = stream  # type: ignore[assignment]
            first.text = texts[start]
            self._text += len(texts[start])
            start += 1
            # The rest of the open batch (`_add` opened it if it had to, as the last pending one)
            # encoded directly and parsed in at once: no protobuf call per line.
            room = min(self.max_batch - self._count, total - start)
            if room:
                # Within the text budget too: the lines whose running total of characters fits.
                sizes = list(itertools.accumulate(map(len, texts[start : start + room])))
                if self._text + sizes[-1] > self.max_batch_text:
                    room = bisect.bisect_right(sizes, self.max_batch_text - self._text)
            if room:
                self._text += sizes[room - 1]
                block = encode_log_lines(run_id, now, stream, texts[start : start + room], self.next_seq)
                self._pending[-1].MergeFromString(block)
            self.next_seq += room
            self._count += room
            start += room

    def mark(self, **values: Any) -> None:
        """Updates the cursor and commits it to the journal at once (a timeout or cancel about to
        happen must be on disk before the container is killed)."""
        self.cursor.update(values)
        self._dirty = True
        self.flush()

    def _schedule(self, *, urgent: bool = False) -> None:
        # Never flush from inside an emit: a producer updates the cursor right after its emit, and a
        # flush must write the cursor that matches its events.
        if self._flush_handle is not None:
            if not urgent or not isinstance(self._flush_handle, asyncio.TimerHandle):
                return
            self._flush_handle.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (plain calls): events wait for an explicit flush() or close()
        if urgent or self.flush_delay <= 0 or time.monotonic() - self._flushed_at >= self.quiet_after:
            self._flush_handle = loop.call_soon(self.flush)
        else:
            self._flush_handle = loop.call_later(self.flush_delay, self.flush)

    def flush(self) -> None:
        """Journals everything emitted so far as one committed flush and wakes the followers."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending and not self._dirty:
            return
        batches, self._pending = self._pending, []
        self._flushed_at = time.monotonic()
        self._count = self.max_batch  # the next event opens a new batch
        self._dirty = False
        records = self._write(batches, {"cursor": self.cursor, "closed": self._closed})
        self._records += records
        self._last_seqs += [r.last_seq for r in records]
        self._evict()
        self._wake.set()
        self._wake = asyncio.Event()

    def _write(self, batches: list[common_pb2.RunEventBatch], meta: dict[str, Any]) -> list[JournalRecord]:
        if self._journal is not None and self.journal_error is None:
            try:
                return self._journal.append(batches, meta)
            except OSError as exc:
                # Delivering without a journal beats stalling the run; only recovery is lost.
                self.journal_error = f"journal {self._journal.path}: {exc}"
                print(f"run {self.run_id}: {self.journal_error}; events are no longer journaled", file=sys.stderr)
        return [JournalRecord(b.events[0].seq, b.events[-1].seq, -1, 0, b) for b in batches if len(b.events)]

    def _evict(self) -> None:
        """Drops all but the newest `keep_batches` batches from memory (the journal has them)."""
        if self._journal is None or self.journal_error is not None:
            return
        for record in self._records[self._evicted : len(self._records) - self.keep_batches]:
            record.batch = None
        self._evicted = max(self._evicted, len(self._records) - self.keep_batches)

    def close(self) -> None:
        """No more events: followers end after what is committed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._dirty = True
        self.flush()

    def release(self) -> None:
        """Closes the journal file (after the last follower is done with it)."""
        if self._journal is not None:
            self._journal.close()

    # -- following ---------------------------------------------------------------------------------

    def _batch(self, record: JournalRecord) -> common_pb2.RunEventBatch:
        if record.batch is not None:
            return record.batch
        assert self._journal is not None
        return self._journal.read(record)

    async def batches(self, after_seq: int | None = None) -> AsyncIterator[common_pb2.RunEventBatch]:
        """Every committed event after `after_seq` once, in seq order, then live ones until closed."""
        next_seq = self.first_seq if after_seq is None else max(after_seq + 1, self.first_seq)
        while True:
            index = bisect.bisect_left(self._last_seqs, next_seq)
            if index < len(self._records):
                record = self._records[index]
                batch = self._batch(record)
                if record.first_seq < next_seq:
                    batch = common_pb2.RunEventBatch(events=batch.events[next_seq - record.first_seq :])
                next_seq = record.last_seq + 1
                yield batch
                continue
            if self._closed:
                return
            await self._wake.wait()
