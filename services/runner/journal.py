"""A run's event journal on the runner's disk: what lets a killed runner resume a run.

Every event the runner numbers is written here before any client can receive it, so the journal
always holds at least what the gateway holds. A restarted runner reads it back to learn the last seq
it gave out and where each capture source stood (the *cursor*: the last docker log frame and line
turned into an event, the rollout file offset, a timeout or cancel in progress), then continues from
there: nothing is sent twice and nothing is skipped.

File format: a sequence of records `b"MRJ1" | u32 batch length | u32 meta length | RunEventBatch |
meta JSON`. One flush writes all its records with a single write(2), and only its last record carries
meta (the cursor after its events), which marks the flush committed. A kill -9 can still cut a large
write short (the kernel checks for fatal signals between pages): loading keeps only committed flushes,
and what it drops was never sent, because followers are woken only after the write has returned.

Writes are not fsynced: the page cache outlives the runner process, which is the failure this guards
against. A host crash takes the containers with it, and the run is then LOST anyway.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from mleredux.v1 import common_pb2

MAGIC = b"MRJ1"
_HEADER = struct.Struct(">4sII")


@dataclass
class JournalRecord:
    """One committed batch: its seq range, where its bytes are, and the batch while kept in memory."""

    first_seq: int
    last_seq: int
    offset: int
    length: int
    batch: common_pb2.RunEventBatch | None


@dataclass
class LoadedJournal:
    """What a journal file held: committed batches in order, the cursor after them, whether it was closed."""

    records: list[JournalRecord] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    closed: bool = False
    size: int = 0
    dropped_bytes: int = 0


class JournalFile:
    """An append-only journal file; `append` and `read` are plain blocking calls of a few microseconds
    (page cache), made from the event loop on purpose so that ordering is trivially preserved."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self._fd = fd
        self.size = size

    @classmethod
    def create(cls, path: Path) -> JournalFile:
        """A new, empty journal; refuses to overwrite an existing one (that would lose a run's events)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        return cls(path, fd, 0)

    @classmethod
    def reopen(cls, path: Path) -> tuple[JournalFile, LoadedJournal]:
        """Loads a journal (dropping an uncommitted tail) and opens it to continue appending."""
        loaded = load_journal(path)
        if loaded.dropped_bytes:
            os.truncate(path, loaded.size)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        return cls(path, fd, loaded.size), loaded

    def append(self, batches: list[common_pb2.RunEventBatch], meta: dict[str, Any]) -> list[JournalRecord]:
        """Writes the batches as one committed flush; the last record carries `meta`."""
        meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
        parts: list[bytes] = []
        records: list[JournalRecord] = []
        offset = self.size
        items: list[common_pb2.RunEventBatch | None] = list(batches) or [None]
        for index, batch in enumerate(items):
            data = batch.SerializeToString() if batch is not None else b""
            tail = meta_bytes if index == len(items) - 1 else b""
            parts += [_HEADER.pack(MAGIC, len(data), len(tail)), data, tail]
            if batch is not None and len(batch.events):
                records.append(
                    JournalRecord(batch.events[0].seq, batch.events[-1].seq, offset + _HEADER.size, len(data), batch)
                )
            offset += _HEADER.size + len(data) + len(tail)
        buffer = memoryview(b"".join(parts))
        while buffer:
            written = os.write(self._fd, buffer)
            buffer = buffer[written:]
        self.size = offset
        return records

    def read(self, record: JournalRecord) -> common_pb2.RunEventBatch:
        """A record's batch, read back from the file (for records no longer kept in memory)."""
        return common_pb2.RunEventBatch.FromString(os.pread(self._fd, record.length, record.offset))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def load_journal(path: Path) -> LoadedJournal:
    """Reads every committed flush of a journal; stops at the first torn or corrupt record."""
    data = path.read_bytes()
    loaded = LoadedJournal()
    pending: list[JournalRecord] = []
    position = 0
    while position + _HEADER.size <= len(data):
        magic, batch_length, meta_length = _HEADER.unpack_from(data, position)
        start = position + _HEADER.size
        end = start + batch_length + meta_length
        if magic != MAGIC or end > len(data):
            break
        batch: common_pb2.RunEventBatch | None = None
        if batch_length:
            try:
                batch = common_pb2.RunEventBatch.FromString(data[start : start + batch_length])
            except DecodeError:
                break
        meta: dict[str, Any] | None = None
        if meta_length:
            try:
                meta = json.loads(data[start + batch_length : end])
            except ValueError:
                break
        if batch is not None and len(batch.events):
            pending.append(JournalRecord(batch.events[0].seq, batch.events[-1].seq, start, batch_length, batch))
        position = end
        if meta is not None:
            loaded.records += pending
            pending = []
            loaded.cursor = dict(meta.get("cursor", {}))
            loaded.closed = bool(meta.get("closed", False))
            loaded.size = position
    loaded.dropped_bytes = len(data) - loaded.size
    return loaded
