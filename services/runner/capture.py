"""Live capture of a run: numbering events in one order, journaling them, and batching them for streams.

Every source (stdout/stderr lines, the rollout file, validation calls, status changes) goes through
`EventSequencer`, which gives each event the next seq. Events emitted during one turn of the event
loop are flushed together: written to the run's journal as one batch, then handed to every follower.
A gRPC message costs about 150 µs here, so one line per message would cap a stream near 6k lines/s;
a turn of the loop typically holds everything one read of the Docker log stream delivered.

Sources keep their position in `EventSequencer.cursor` (updated in the same synchronous step as the
emit), so the cursor written with a flush always describes exactly the events flushed: a restarted
runner resumes each source from there (see journal.py).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import json
import os
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from mleredux import proto_json
from mleredux.timestamps import now_timestamp
from mleredux.v1 import common_pb2
from services.runner.backends.base import OutputChunk
from services.runner.journal import JournalFile, JournalRecord, LoadedJournal

#: A line longer than this is sent in pieces marked partial, so one huge line cannot hold memory.
MAX_LINE_BYTES = 64 * 1024
#: Largest rollout line read; a longer one becomes a warning (an agent must not make the runner buffer GBs).
MAX_ROLLOUT_LINE_BYTES = 8 * 1024 * 1024

STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT
STDERR = common_pb2.LogStream.LOG_STREAM_STDERR


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
        max_batch: int = 500,
        keep_batches: int = 256,
        flush_delay: float = 0.002,
    ) -> None:
        self.run_id = run_id
        self.first_seq = first_seq
        self.next_seq = first_seq
        self.max_batch = max_batch
        #: How long the first event of a flush waits for company: a fast agent's lines then go out
        #: hundreds per message instead of a few, for at most this much added latency.
        self.flush_delay = flush_delay
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
        if self._count >= self.max_batch:
            if self._pending:
                self._schedule(urgent=True)  # a full batch goes out as soon as its producer step ends
            batch = common_pb2.RunEventBatch()
            self._pending.append(batch)
            self._add_event = batch.events.add
            self._count = 0
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
        if partial:
            line.partial = True

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
        if urgent or self.flush_delay <= 0:
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


class LineSplitter:
    """Turns one stream's chunks into lines; keeps a partial line until its newline arrives."""

    def __init__(self, stream: int, sink: Callable[[int, str, bool], None]) -> None:
        self.stream = stream
        self._sink = sink
        self._buffer = b""

    def _emit(self, data: bytes, partial: bool) -> None:
        self._sink(self.stream, data.decode("utf-8", errors="replace").rstrip("\r"), partial)

    def feed(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            self._emit(line, False)
        while len(rest) >= MAX_LINE_BYTES:
            self._emit(rest[:MAX_LINE_BYTES], True)
            rest = rest[MAX_LINE_BYTES:]
        self._buffer = rest

    @property
    def pending(self) -> bytes:
        """Part of a line waiting for its newline (empty when none)."""
        return self._buffer

    def flush(self) -> None:
        """At the stream's end: a last line without newline is sent, marked partial."""
        if self._buffer:
            self._emit(self._buffer, True)
            self._buffer = b""


class OutputCapture:
    """The container's output frames → log lines, each with a position (frame, line in frame).

    Frames come from the engine in the same order and with the same boundaries every time the log
    is read from the start, so a position identifies a line across runner restarts: a resumed
    capture replays the frames (rebuilding partial lines) and emits only lines after `resume_after`.
    """

    def __init__(self, sequencer: EventSequencer, resume_after: tuple[int, int] = (0, 0)) -> None:
        self.sequencer = sequencer
        self.frames = 0
        self._line = 0
        self._last: tuple[int, int] | None = None
        self._skip: tuple[int, int] | None = resume_after if resume_after > (0, 0) else None
        self._splitters = {"stdout": LineSplitter(STDOUT, self._on_line), "stderr": LineSplitter(STDERR, self._on_line)}

    def feed(self, chunk: OutputChunk) -> None:
        self.feed_all([chunk])

    def feed_all(self, chunks: Sequence[OutputChunk]) -> None:
        """Feeds frames that arrived together (they share one capture time)."""
        sequencer = self.sequencer
        sequencer.touch()
        emit_line = sequencer.emit_line
        splitters = self._splitters
        frame = self.frames
        for chunk in chunks:
            frame += 1
            data = chunk.data
            splitter = splitters[chunk.stream]
            if self._skip is None and not splitter.pending and data[-1:] == b"\n" and data.count(b"\n") == 1:
                # The common case, one whole line per frame, without the splitter's bookkeeping.
                emit_line(splitter.stream, data[:-1].decode("utf-8", errors="replace").rstrip("\r"), False)
                self._last = (frame, 1)
            else:
                self.frames = frame
                self._line = 0
                splitter.feed(data)
        self.frames = frame
        if self._last is not None:
            sequencer.cursor["log"] = self._last

    def finish(self) -> None:
        """The output has ended: unterminated last lines count as one more frame."""
        self.sequencer.touch()
        self.frames += 1
        self._line = 0
        for splitter in self._splitters.values():
            splitter.flush()
        if self._last is not None:
            self.sequencer.cursor["log"] = self._last

    def _on_line(self, stream: int, text: str, partial: bool) -> None:
        self._line += 1
        if self._skip is not None:
            if (self.frames, self._line) <= self._skip:
                return
            self._skip = None
        self.sequencer.emit_line(stream, text, partial)
        self._last = (self.frames, self._line)


def rollout_event_from_line(line: bytes) -> common_pb2.RolloutEvent:
    """Parses one rollout.jsonl line; a malformed one becomes a `warning` event, never an error."""
    text = line.decode("utf-8", errors="replace").strip()
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("a rollout line must be a JSON object")
        kind = str(record.get("kind") or "event")
        step = int(record.get("step") or 0)
        payload = record.get("payload", {k: v for k, v in record.items() if k not in ("kind", "step")})
        return common_pb2.RolloutEvent(step=step, kind=kind, payload=proto_json.struct_from(payload))
    except (ValueError, TypeError) as exc:
        return warning_event(f"malformed rollout line: {exc}", line=text[:2000])


def warning_event(message: str, **details: Any) -> common_pb2.RolloutEvent:
    """A `warning` rollout event: something about the run the service wants on the record."""
    return common_pb2.RolloutEvent(kind="warning", payload=proto_json.struct_from({"message": message, **details}))


class RolloutTailer:
    """Follows /home/logs/rollout.jsonl from the host side, emitting each complete line as it lands.

    The file is the agent's: it is opened without following symlinks and only if it is a regular
    file, so an agent cannot make the runner read a host file or block on a FIFO.
    """

    def __init__(self, path: Path, sequencer: EventSequencer, *, offset: int = 0, interval: float = 0.05) -> None:
        self.path = path
        self.sequencer = sequencer
        self.interval = interval
        #: Bytes consumed up to the end of the last complete line (the resume point).
        self.offset = offset
        self._refused: str | None = None
        self._skipping = False

    def _read(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return b""
        except OSError as exc:
            reason = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
            self._refuse(f"rollout.jsonl is not read: {reason}")
            return b""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self._refuse("rollout.jsonl is not read: it is not a regular file")
                return b""
            if info.st_size < self.offset:
                self.sequencer.emit(rollout=warning_event("rollout.jsonl was truncated; reading it from the start"))
                self._advance(-self.offset)
            return os.pread(fd, min(info.st_size - self.offset, MAX_ROLLOUT_LINE_BYTES + 1), self.offset)
        finally:
            os.close(fd)

    def _refuse(self, message: str) -> None:
        if self._refused != message:
            self._refused = message
            self.sequencer.emit(rollout=warning_event(message))

    def _advance(self, count: int) -> None:
        self.offset += count
        self.sequencer.cursor["rollout"] = self.offset

    def poll(self, *, final: bool = False) -> None:
        """Reads what was appended since the last poll; at the end a last unterminated line counts too."""
        while True:
            data = self._read()
            if not data:
                return
            if self._skipping:
                # The rest of an over-long line: drop it up to its newline.
                newline = data.find(b"\n")
                self._advance(len(data) if newline < 0 else newline + 1)
                self._skipping = newline < 0
                continue
            end = data.rfind(b"\n") + 1
            if final and len(data) <= MAX_ROLLOUT_LINE_BYTES:
                end = len(data)
            if end == 0:
                if len(data) > MAX_ROLLOUT_LINE_BYTES:
                    self.sequencer.emit(rollout=warning_event("rollout line longer than 8 MiB skipped"))
                    self._advance(len(data))
                    self._skipping = True
                    continue
                return
            start = 0
            while start < end:
                stop = data.find(b"\n", start, end)
                stop = end if stop < 0 else stop
                if data[start:stop].strip():
                    self.sequencer.emit(rollout=rollout_event_from_line(data[start:stop]))
                self.sequencer.cursor["rollout"] = self.offset + min(stop + 1, end)
                start = stop + 1
            self.offset += end
            if len(data) <= MAX_ROLLOUT_LINE_BYTES:
                return

    async def follow(self) -> None:
        """Polls until cancelled (the owner cancels it, then calls `poll(final=True)`)."""
        while True:
            with contextlib.suppress(OSError):
                self.poll()
            await asyncio.sleep(self.interval)
