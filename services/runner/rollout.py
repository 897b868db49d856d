"""The agent's rollout file (/home/logs/rollout.jsonl) as rollout events, and the runner's warnings."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from mleredux.v1 import common_pb2
from services.runner.sequencer import EventSequencer

#: Largest rollout line read; a longer one becomes a warning (an agent must not make the runner buffer GBs).
MAX_ROLLOUT_LINE_BYTES = 8 * 1024 * 1024


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
        return warning_event(f"malformed rollout line: {exc}", line=text[:2000])


def warning_event(message: str, **details: Any) -> common_pb2.RolloutEvent:
    """A `warning` rollout event: something about the run the service wants on the record."""
    return common_pb2.RolloutEvent(kind="warning", payload_json=json.dumps({"message": message, **details}))


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
