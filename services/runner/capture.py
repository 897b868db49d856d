"""Live capture of a run: numbering events in one order and batching them for the stream.

Every source (stdout/stderr lines, the rollout file, validation calls, status changes) calls
`EventSequencer.emit`, which gives the event the next seq; `batches()` hands out everything ready in
one message (up to `max_batch`), because a gRPC message costs about 150 µs here and one line per
message would cap a stream near 6k lines/s.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from mleredux.v1 import common_pb2

#: A line longer than this is sent in pieces marked partial, so one huge line cannot hold memory.
MAX_LINE_BYTES = 64 * 1024


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


class EventSequencer:
    """Numbers a run's events gap-free from `first_seq` and queues them for `batches()`."""

    def __init__(self, run_id: str, first_seq: int, *, max_batch: int = 500) -> None:
        self.run_id = run_id
        self.next_seq = first_seq
        self.max_batch = max_batch
        self._queue: asyncio.Queue[common_pb2.RunEvent | None] = asyncio.Queue()
        self._closed = False

    def emit(self, **payload: Any) -> common_pb2.RunEvent:
        """Adds one event, e.g. `emit(log_line=LogLine(...))`. Ignored after `close()`."""
        event = common_pb2.RunEvent(run_id=self.run_id, seq=self.next_seq, time=now_timestamp(), **payload)
        if self._closed:
            return event
        self.next_seq += 1
        self._queue.put_nowait(event)
        return event

    def close(self) -> None:
        """No more events: `batches()` ends after what is queued."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    async def batches(self) -> AsyncIterator[list[common_pb2.RunEvent]]:
        """Yields every event once, in seq order, as batches of what was ready together."""
        done = False
        while not done:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    done = True
                    break
                batch.append(item)
            yield batch


class LineSplitter:
    """Turns one stream's chunks into lines; keeps a partial line until its newline arrives."""

    def __init__(self, stream: int, sequencer: EventSequencer) -> None:
        self.stream = stream
        self.sequencer = sequencer
        self._buffer = bytearray()

    def _emit(self, data: bytes, *, partial: bool) -> None:
        text = data.decode("utf-8", errors="replace").rstrip("\r")
        self.sequencer.emit(log_line=common_pb2.LogLine(stream=self.stream, text=text, partial=partial))  # type: ignore[arg-type]

    def feed(self, data: bytes) -> None:
        self._buffer.extend(data)
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            self._emit(bytes(self._buffer[:end]), partial=False)
            del self._buffer[: end + 1]
        while len(self._buffer) >= MAX_LINE_BYTES:
            self._emit(bytes(self._buffer[:MAX_LINE_BYTES]), partial=True)
            del self._buffer[:MAX_LINE_BYTES]

    def flush(self) -> None:
        """At the stream's end: a last line without newline is sent, marked partial."""
        if self._buffer:
            self._emit(bytes(self._buffer), partial=True)
            self._buffer.clear()


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
        return common_pb2.RolloutEvent(step=step, kind=kind, payload_json=json.dumps(payload))
    except (ValueError, TypeError) as exc:
        return common_pb2.RolloutEvent(
            step=0,
            kind="warning",
            payload_json=json.dumps({"message": f"malformed rollout line: {exc}", "line": text[:2000]}),
        )


class RolloutTailer:
    """Follows /home/logs/rollout.jsonl from the host side, emitting each complete line as it lands."""

    def __init__(self, path: Path, sequencer: EventSequencer, *, interval: float = 0.05) -> None:
        self.path = path
        self.sequencer = sequencer
        self.interval = interval
        self._offset = 0
        self._pending = b""

    def poll(self, *, final: bool = False) -> None:
        """Reads what was appended since the last poll; at the end a last unterminated line counts too."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        data = self._pending + data
        *lines, self._pending = data.split(b"\n")
        if final and self._pending.strip():
            lines.append(self._pending)
            self._pending = b""
        for line in lines:
            if line.strip():
                self.sequencer.emit(rollout=rollout_event_from_line(line))

    async def follow(self) -> None:
        """Polls until cancelled (the owner cancels it, then calls `poll(final=True)`)."""
        while True:
            self.poll()
            await asyncio.sleep(self.interval)
