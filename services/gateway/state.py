"""Durable run state: runs and their event logs in SQLite (WAL).

A run is stored as its `Run` protobuf plus the columns lists filter and order by; its events as one
row per batch (`event_batches`: a runner's batch is stored as the encoding it arrived in, hundreds of
lines in one row, with no work per event), written in the same transaction that advances the run's
`last_seq`, so a crash can never leave a gap or a duplicate in a run's log. A finished run's batches
are compacted into compressed chunks (`event_chunks`). Databases from before batches were stored
whole keep one row per event in `events`; those are read and compacted the same way. A batch of log
lines advances only the `last_seq` column (which overrides the protobuf's own field when a run is
read): the protobuf, with its environment of up to 256 KiB, is rewritten only when something in it
changed.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mleredux.errors import InvalidArgumentError, RunNotFoundError
from mleredux.v1 import common_pb2, gateway_pb2
from services.gateway.page_tokens import decode_position, encode_position

TERMINAL_STATES = frozenset(
    {
        common_pb2.RunState.RUN_STATE_SUCCEEDED,
        common_pb2.RunState.RUN_STATE_FAILED,
        common_pb2.RunState.RUN_STATE_CANCELLED,
        common_pb2.RunState.RUN_STATE_TIMED_OUT,
        common_pb2.RunState.RUN_STATE_LOST,
    }
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    competition_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    data BLOB NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (created_ns DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (owner, created_ns DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
""" + "".join(
    # A run's batches as they arrived (`data` a RunEventBatch's encoding), and, once it has finished,
    # the same events packed into zlib-compressed chunks: the two tables have one shape.
    f"""CREATE TABLE IF NOT EXISTS {table} (
    run_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, first_seq)
) WITHOUT ROWID;
"""
    for table in ("event_batches", "event_chunks")
)

#: Events per compacted chunk: a replay reads one chunk per this many events.
CHUNK_EVENTS = 2000


def is_terminal(state: int) -> bool:
    return state in TERMINAL_STATES


@dataclass(frozen=True)
class EncodedEvents:
    """Consecutive events of a run, `first_seq` to `last_seq`, as one `RunEventBatch` encoding (which
    is a `WatchRunResponse`'s too): what a replaying watcher is sent as it is."""

    first_seq: int
    last_seq: int
    data: bytes


@dataclass(frozen=True)
class StoredBatch:
    """A batch of a run's events as it is written, with what it changes in the run's row."""

    run_id: str
    events: list[common_pb2.RunEvent]
    last_seq: int
    state: int
    #: The run's protobuf when the batch changed more than its log position; None otherwise (the
    #: protobuf, with its environment of up to 256 KiB, is then not rewritten).
    data: bytes | None
    #: The events' `RunEventBatch` encoding when it is at hand (a runner's batch as received): stored
    #: as it is. None: the writer encodes them.
    encoded: bytes | None = None


@dataclass(frozen=True)
class RunRow:
    """A run's row as it is inserted (`new`) or rewritten, written by the same writer as its events so
    that a row and the events around it land in the order they were made."""

    run_id: str
    owner: str
    competition_id: str
    state: int
    created_ns: int
    data: bytes
    last_seq: int
    new: bool

    @classmethod
    def of(cls, run: gateway_pb2.Run, *, new: bool = False) -> RunRow:
        return cls(
            run.run_id,
            run.owner,
            run.competition_id,
            run.state,
            run.create_time.ToNanoseconds(),
            run.SerializeToString(),
            run.last_seq,
            new,
        )


@dataclass(frozen=True)
class TableWrite:
    """Statements for another of the gateway's tables (evaluations), run by the event writer inside
    its transaction, in order with the run writes: `apply` must only execute statements on the
    connection it is given (no commit, no reads it depends on) and must hold its values already
    serialized, since it runs later, on another thread."""

    apply: Callable[[sqlite3.Connection], None]


#: What the event writer writes: a run's events (with its row's change), a run's whole row, or
#: another table's statements.
StoredWrite = StoredBatch | RunRow | TableWrite


def prepare_batch(
    run: gateway_pb2.Run,
    events: list[common_pb2.RunEvent],
    *,
    run_changed: bool = True,
    encoded: bytes | None = None,
) -> StoredBatch:
    """Checks that `events` continue the run's log gap-free and advances `run.last_seq` over them.
    `encoded`: the events' `RunEventBatch` encoding, when the caller has it."""
    expected = run.last_seq + 1
    for event in events:
        if event.seq != expected:
            raise ValueError(f"run {run.run_id}: event seq {event.seq} does not follow {expected - 1}")
        expected += 1
    run.last_seq = expected - 1
    return StoredBatch(
        run.run_id, events, run.last_seq, run.state, run.SerializeToString() if run_changed else None, encoded
    )


def _decode(data: bytes, last_seq: int) -> gateway_pb2.Run:
    """A stored run: its protobuf, with the log position from its own column (the protobuf's copy
    is only as new as the last change to the run; last_seq only grows)."""
    run = gateway_pb2.Run.FromString(data)
    run.last_seq = max(run.last_seq, last_seq)
    return run


class RunDatabase:
    """All reads and writes of run state. One instance per thread: the event loop's calls are short;
    compaction and pruning use an instance of their own in a worker thread."""

    def __init__(self, path: Path, *, checkpoints: bool = True) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Two connections may write (the event loop's and the background one that compacts and
        # prunes); each waits for the other's short transactions rather than failing.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if not checkpoints:
            # The event loop's connection: a commit that crosses the WAL's size would fold the WAL
            # into the file (and fsync) right there; the writer thread's connection does it instead.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "last_seq" not in columns:  # a database from before the column: its protobufs hold last_seq
            with contextlib.suppress(sqlite3.OperationalError):  # another connection added it first
                self._db.execute("ALTER TABLE runs ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        self._db.close()

    def create_run(self, run: gateway_pb2.Run) -> None:
        self.store_batches([RunRow.of(run, new=True)])

    def get_run(self, run_id: str) -> gateway_pb2.Run:
        row = self._db.execute("SELECT data, last_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r}")
        return _decode(row[0], row[1])

    def save_run(self, run: gateway_pb2.Run) -> None:
        self.store_batches([RunRow.of(run)])

    def list_runs(
        self, *, page_size: int, page_token: str, state: int = 0, competition_id: str = "", owner: str | None = None
    ) -> tuple[list[gateway_pb2.Run], str]:
        """Newest first; the token is the position after the last run returned."""
        if page_size < 0:
            raise InvalidArgumentError("page_size must not be negative")
        page_size = min(page_size or 50, 1000)
        where, params = ["1=1"], []
        if page_token:
            created, after_id = decode_position(page_token)
            where.append("(created_ns < ? OR (created_ns = ? AND run_id < ?))")
            params += [created, created, after_id]
        if state:
            where.append("state = ?")
            params.append(state)
        if competition_id:
            where.append("competition_id = ?")
            params.append(competition_id)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        rows = self._db.execute(
            f"SELECT created_ns, run_id, data, last_seq FROM runs WHERE {' AND '.join(where)} "
            "ORDER BY created_ns DESC, run_id DESC LIMIT ?",
            (*params, page_size + 1),
        ).fetchall()
        runs = [_decode(r[2], r[3]) for r in rows[:page_size]]
        token = ""
        if len(rows) > page_size:
            last = rows[page_size - 1]
            token = encode_position(last[0], last[1])
        return runs, token

    def unfinished_runs(self) -> list[gateway_pb2.Run]:
        placeholders = ",".join("?" * len(TERMINAL_STATES))
        rows = self._db.execute(
            f"SELECT data, last_seq FROM runs WHERE state NOT IN ({placeholders}) ORDER BY created_ns",
            tuple(TERMINAL_STATES),
        ).fetchall()
        return [_decode(r[0], r[1]) for r in rows]

    def append_events(
        self, run: gateway_pb2.Run, events: list[common_pb2.RunEvent], *, run_changed: bool = True
    ) -> None:
        """Persists events (which must continue the run's log gap-free) and the run, atomically."""
        self.store_batches([prepare_batch(run, events, run_changed=run_changed)])

    def store_batches(self, batches: list[StoredWrite]) -> None:
        """Persists batches and rows (of one run or several, in order) in one transaction."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for batch in batches:
                if isinstance(batch, RunRow):
                    self._store_row(batch)
                    continue
                if isinstance(batch, TableWrite):
                    batch.apply(self._db)
                    continue
                if batch.events:
                    encoded = batch.encoded
                    if encoded is None:
                        encoded = common_pb2.RunEventBatch(events=batch.events).SerializeToString()
                    self._db.execute(
                        "INSERT INTO event_batches (run_id, first_seq, last_seq, data) VALUES (?, ?, ?, ?)",
                        (batch.run_id, batch.events[0].seq, batch.last_seq, encoded),
                    )
                if batch.data is not None:
                    self._db.execute(
                        "UPDATE runs SET state = ?, data = ?, last_seq = ? WHERE run_id = ?",
                        (batch.state, batch.data, batch.last_seq, batch.run_id),
                    )
                else:
                    self._db.execute("UPDATE runs SET last_seq = ? WHERE run_id = ?", (batch.last_seq, batch.run_id))

    def _store_row(self, row: RunRow) -> None:
        if row.new:
            self._db.execute(
                "INSERT INTO runs (run_id, owner, competition_id, state, created_ns, data, last_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.run_id, row.owner, row.competition_id, row.state, row.created_ns, row.data, row.last_seq),
            )
        else:
            self._db.execute(
                "UPDATE runs SET state = ?, data = ?, last_seq = ? WHERE run_id = ?",
                (row.state, row.data, row.last_seq, row.run_id),
            )

    def events_from(self, run_id: str, from_seq: int, limit: int = 1000) -> list[common_pb2.RunEvent]:
        """Up to `limit` events from `from_seq` on, from compacted chunks or live batches alike."""
        with self._db:
            self._db.execute("BEGIN")  # one snapshot: a compaction in between cannot hide events
            return self._events_from(run_id, from_seq, limit)

    def encoded_from(self, run_id: str, from_seq: int, limit: int = 1000) -> list[EncodedEvents]:
        """The events `events_from` gives, from `from_seq` on, as the encodings they are stored in:
        whole batches and (decompressed) chunks until about `limit` events, without decoding any
        but the first when it starts before `from_seq`. A replay of a 300,000-line run decoded and
        encoded every event again otherwise."""
        with self._db:
            self._db.execute("BEGIN")  # one snapshot, as in events_from
            if self._db.execute("SELECT 1 FROM events WHERE run_id = ? LIMIT 1", (run_id,)).fetchone():
                # A run from before batches were stored whole: its rows have no encoding to pass on.
                events = self._events_from(run_id, from_seq, limit)
                if not events:
                    return []
                data = common_pb2.RunEventBatch(events=events).SerializeToString()
                return [EncodedEvents(events[0].seq, events[-1].seq, data)]
            pages: list[EncodedEvents] = []
            count = 0
            # Chunks hold a run's older events and batches its newer ones: one seq order.
            stored = itertools.chain(
                self._stored("event_chunks", run_id, from_seq, compressed=True),
                self._stored("event_batches", run_id, from_seq),
            )
            for first_seq, last_seq, data in stored:
                if first_seq < from_seq:
                    batch = common_pb2.RunEventBatch.FromString(data)
                    data = common_pb2.RunEventBatch(events=batch.events[from_seq - first_seq :]).SerializeToString()
                    first_seq = from_seq
                pages.append(EncodedEvents(first_seq, last_seq, data))
                count += last_seq - first_seq + 1
                from_seq = last_seq + 1
                if count >= limit:
                    break
            return pages

    def _events_from(self, run_id: str, from_seq: int, limit: int) -> list[common_pb2.RunEvent]:
        # Oldest first: compacted chunks; then rows from a database written before batches were
        # stored whole (a run in flight across the upgrade has its older events as rows, with lower
        # seqs than any of its batches); then the batches.
        events = self._packed("event_chunks", run_id, from_seq, limit, compressed=True)
        for read in (self._rows, functools.partial(self._packed, "event_batches")):
            if len(events) >= limit:
                break
            if events:
                from_seq = events[-1].seq + 1
            events += read(run_id, from_seq, limit - len(events))
        return events

    def _packed(
        self, table: str, run_id: str, from_seq: int, want: int, *, compressed: bool = False
    ) -> list[common_pb2.RunEvent]:
        """Up to `want` events from `from_seq` on out of `table`'s batches (or zlib-compressed chunks)."""
        events: list[common_pb2.RunEvent] = []
        for first_seq, _, data in self._stored(table, run_id, from_seq, compressed=compressed):
            skip = max(from_seq - first_seq, 0)
            events += common_pb2.RunEventBatch.FromString(data).events[skip : skip + want - len(events)]
            if len(events) >= want:
                break
        return events

    def _stored(
        self, table: str, run_id: str, from_seq: int, *, compressed: bool = False
    ) -> Iterator[tuple[int, int, bytes]]:
        """(first_seq, last_seq, `RunEventBatch` encoding) of each of `table`'s batches (or chunks,
        decompressed) that holds events from `from_seq` on, in seq order."""
        packs = self._db.execute(
            f"SELECT first_seq, last_seq, data FROM {table} WHERE run_id = ? AND first_seq >= ? ORDER BY first_seq",
            (run_id, self._start_of(table, run_id, from_seq)),
        )
        try:
            for first_seq, last_seq, data in packs:
                if last_seq >= from_seq:
                    yield first_seq, last_seq, zlib.decompress(data) if compressed else data
        finally:
            packs.close()

    def _rows(self, run_id: str, from_seq: int, want: int) -> list[common_pb2.RunEvent]:
        """Up to `want` events from `from_seq` on stored one row each (`events`, the old layout)."""
        rows = self._db.execute(
            "SELECT data FROM events WHERE run_id = ? AND seq >= ? ORDER BY seq LIMIT ?", (run_id, from_seq, want)
        ).fetchall()
        return [common_pb2.RunEvent.FromString(r[0]) for r in rows]

    def _start_of(self, table: str, run_id: str, seq: int) -> int:
        """The first seq of the chunk or batch in `table` that may hold `seq` (found on the primary
        key: a condition on last_seq would scan, blobs and all, every one of the run's rows)."""
        row = self._db.execute(
            f"SELECT MAX(first_seq) FROM {table} WHERE run_id = ? AND first_seq <= ?", (run_id, seq)
        ).fetchone()
        return int(row[0]) if row[0] is not None else 0

    # -- the storage policy ------------------------------------------------------------------------

    def compact(self, run_id: str) -> int:
        """Packs a finished run's event batches into compressed chunks of about `CHUNK_EVENTS` events
        (a batch of lines compresses several-fold in company). Replays read the chunks as they read
        batches. Returns the bytes the chunks take. Safe to repeat."""
        total = self._compact_rows(run_id)
        while True:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                # Whole batches, in order, until the chunk holds CHUNK_EVENTS events: batch encodings
                # concatenated are one batch's encoding (a repeated field is appended), so nothing is
                # decoded here.
                first_seq = last_seq = -1
                parts: list[bytes] = []
                batches = self._db.execute(
                    "SELECT first_seq, last_seq, data FROM event_batches WHERE run_id = ? ORDER BY first_seq",
                    (run_id,),
                )
                for first, last, data in batches:
                    first_seq = first if first_seq < 0 else first_seq
                    last_seq = last
                    parts.append(data)
                    if last_seq - first_seq + 1 >= CHUNK_EVENTS:
                        break
                batches.close()
                if not parts:
                    return total
                data = zlib.compress(b"".join(parts), 6)
                total += len(data)
                self._db.execute(
                    "INSERT OR REPLACE INTO event_chunks (run_id, first_seq, last_seq, data) VALUES (?, ?, ?, ?)",
                    (run_id, first_seq, last_seq, data),
                )
                self._db.execute(
                    "DELETE FROM event_batches WHERE run_id = ? AND first_seq BETWEEN ? AND ?",
                    (run_id, first_seq, last_seq),
                )

    def _compact_rows(self, run_id: str) -> int:
        """`compact` for a run's events stored one row each (databases from before batches)."""
        total = 0
        while True:
            # One short write transaction per chunk: the gateway's other connection keeps writing
            # in between, and readers (in their own transaction) see rows or the chunk, never neither.
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                rows = self._db.execute(
                    "SELECT seq, data FROM events WHERE run_id = ? ORDER BY seq LIMIT ?", (run_id, CHUNK_EVENTS)
                ).fetchall()
                if not rows:
                    return total
                batch = common_pb2.RunEventBatch(events=[common_pb2.RunEvent.FromString(r[1]) for r in rows])
                data = zlib.compress(batch.SerializeToString(), 6)
                total += len(data)
                self._db.execute(
                    "INSERT OR REPLACE INTO event_chunks (run_id, first_seq, last_seq, data) VALUES (?, ?, ?, ?)",
                    (run_id, rows[0][0], rows[-1][0], data),
                )
                self._db.execute(
                    "DELETE FROM events WHERE run_id = ? AND seq BETWEEN ? AND ?", (run_id, rows[0][0], rows[-1][0])
                )

    def uncompacted_finished_runs(self) -> list[str]:
        """Finished runs with events not yet compacted (the gateway stopped before compacting them)."""
        placeholders = ",".join("?" * len(TERMINAL_STATES))
        rows = self._db.execute(
            f"SELECT run_id FROM runs WHERE state IN ({placeholders}) AND (EXISTS "
            "(SELECT 1 FROM event_batches b WHERE b.run_id = runs.run_id) OR EXISTS "
            "(SELECT 1 FROM events e WHERE e.run_id = runs.run_id))",
            tuple(TERMINAL_STATES),
        ).fetchall()
        return [r[0] for r in rows]

    def finished_runs_oldest_first(self) -> list[tuple[str, int, int]]:
        """(run_id, created_ns, bytes in the database) of every finished run, oldest first."""
        placeholders = ",".join("?" * len(TERMINAL_STATES))
        rows = self._db.execute(
            f"SELECT run_id, created_ns, length(data) + COALESCE("
            "(SELECT SUM(length(c.data)) FROM event_chunks c WHERE c.run_id = runs.run_id), 0) + COALESCE("
            "(SELECT SUM(length(b.data)) FROM event_batches b WHERE b.run_id = runs.run_id), 0) + COALESCE("
            "(SELECT SUM(length(e.data)) FROM events e WHERE e.run_id = runs.run_id), 0) "
            f"FROM runs WHERE state IN ({placeholders}) ORDER BY created_ns, run_id",
            tuple(TERMINAL_STATES),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def delete_run(self, run_id: str) -> None:
        """Removes a run and its whole log (a finished one: the caller checks)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM event_batches WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM event_chunks WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def vacuum(self) -> None:
        """Gives the pages freed by pruning back to the file system."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM rewrote the file through the WAL
