"""The agent's rollout file (/home/logs/rollout.jsonl) as rollout events, and the runner's warnings."""

from __future__ import annotations

import asyncio
import errno
import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mleredux import proto_json
from mleredux.v1 import common_pb2
from services.runner.sequencer import EventSequencer

#: Largest rollout line read; a longer one becomes a warning (an agent must not make the runner buffer GBs).
MAX_ROLLOUT_LINE_BYTES = 8 * 1024 * 1024


#: protobuf's int64 range, which `RolloutEvent.step` must fit.
_STEP_RANGE = (-(1 << 63), (1 << 63) - 1)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def rollout_event_from_line(line: bytes) -> common_pb2.RolloutEvent:
    """Parses one rollout.jsonl line; a malformed, non-finite or too deeply nested one becomes a
    `warning` event, never an error (nothing an agent writes may stop the run's capture)."""
    text = line.decode("utf-8", errors="replace").strip()
    try:
        record = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
        if not isinstance(record, dict):
            raise ValueError("a rollout line must be a JSON object")
        kind = str(record.get("kind") or "event")[:200]
        raw_step = record.get("step") or 0
        if isinstance(raw_step, float) and not raw_step.is_integer():
            raise ValueError(f"step {raw_step!r} is not a whole number")
        step = int(raw_step)
        if not _STEP_RANGE[0] <= step <= _STEP_RANGE[1]:
            raise ValueError("step is out of range")
        payload = record.get("payload", {k: v for k, v in record.items() if k not in ("kind", "step")})
        return common_pb2.RolloutEvent(step=step, kind=kind, payload=proto_json.struct_from(payload))
    except RecursionError:
        return warning_event("malformed rollout line: nested too deeply", line=text[:2000])
    except (ValueError, TypeError, OverflowError) as exc:
        return warning_event(f"malformed rollout line: {str(exc)[:300]}", line=text[:2000])


def warning_event(message: str, **details: Any) -> common_pb2.RolloutEvent:
    """A `warning` rollout event: something about the run the service wants on the record."""
    return common_pb2.RolloutEvent(kind="warning", payload=proto_json.struct_from({"message": message, **details}))


class RolloutTailer:
    """Follows /home/logs/rollout.jsonl from the host side, emitting each complete line as it lands.

    The file is the agent's: it is opened without following symlinks and only if it is a regular
    file, so an agent cannot make the runner read a host file or block on a FIFO.
    """

    def __init__(
        self,
        path: Path,
        sequencer: EventSequencer,
        *,
        offset: int = 0,
        interval: float = 0.05,
        max_events: int = 10_000,
        max_bytes: int = 64 << 20,
    ) -> None:
        self.path = path
        self.sequencer = sequencer
        self.interval = interval
        self.max_events = max_events
        self.max_bytes = max_bytes
        # What the run has taken so far (kept in the cursor: the caps hold across a runner restart).
        self._events = int(sequencer.cursor.get("rollout_events", 0))
        self._bytes = int(sequencer.cursor.get("rollout_bytes", 0))
        #: Bytes consumed up to the end of the last complete line (the resume point).
        self.offset = offset
        self._refused: str | None = None
        self._broken = False
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
            if self.sequencer.cursor.get("rollout_capped") and info.st_size > self.offset:
                # Past the cap nothing more is recorded: skip what was appended without reading it.
                self._advance(info.st_size - self.offset)
                return b""
            if info.st_size < self.offset:
                self._record(lambda: warning_event("rollout.jsonl was truncated; reading it from the start"), 0)
                self._advance(-self.offset)
            return os.pread(fd, min(info.st_size - self.offset, MAX_ROLLOUT_LINE_BYTES + 1), self.offset)
        finally:
            os.close(fd)

    def _refuse(self, message: str) -> None:
        if self._refused != message:
            self._refused = message
            self._record(lambda: warning_event(message), 0)

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
                    self._record(lambda: warning_event("rollout line longer than 8 MiB skipped"), 0)
                    self._advance(len(data))
                    self._skipping = True
                    continue
                return
            start = 0
            while start < end:
                stop = data.find(b"\n", start, end)
                stop = end if stop < 0 else stop
                if data[start:stop].strip():
                    self._take(data[start:stop])
                self.sequencer.cursor["rollout"] = self.offset + min(stop + 1, end)
                start = stop + 1
            self.offset += end
            if len(data) <= MAX_ROLLOUT_LINE_BYTES:
                return

    def _take(self, line: bytes) -> None:
        self._record(lambda: rollout_event_from_line(line), len(line))

    def _record(self, make: Callable[[], common_pb2.RolloutEvent], size: int) -> None:
        """One event made of the file (a line, or a warning about the file), while the run is within
        its caps; the one that crosses a cap gives the single warning that says so, and nothing more
        of the file is recorded (an agent cannot make warnings without bound either)."""
        cursor = self.sequencer.cursor
        if cursor.get("rollout_capped"):
            return
        if self._events >= self.max_events or self._bytes + size > self.max_bytes:
            which = f"{self.max_events} events" if self._events >= self.max_events else f"{self.max_bytes} bytes"
            self.sequencer.emit(
                rollout=warning_event(
                    f"rollout limit of {which} per run reached; later rollout lines are not recorded",
                    limit="rollout",
                )
            )
            cursor["rollout_capped"] = True
            return
        self.sequencer.emit(rollout=make())
        self._events += 1
        self._bytes += size
        cursor["rollout_events"] = self._events
        cursor["rollout_bytes"] = self._bytes

    def safe_poll(self, *, final: bool = False) -> None:
        """`poll` that never raises: an unexpected failure is one warning and the rollout stops being
        read, but the run goes on (the agent's file must not be able to end it)."""
        if self._broken:
            return
        try:
            self.poll(final=final)
        except OSError:
            pass  # the file is being replaced or the dir is gone; the next poll tries again
        except Exception as exc:
            self._broken = True
            self.sequencer.emit(rollout=warning_event(f"rollout.jsonl is no longer read: {type(exc).__name__}"))

    async def follow(self) -> None:
        """Polls until cancelled (the owner cancels it, then calls `safe_poll(final=True)`)."""
        while True:
            self.safe_poll()
            await asyncio.sleep(self.interval)
