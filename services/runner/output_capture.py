"""The container's output as log events: frames → lines, each with a position that survives a restart."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mleredux.v1 import common_pb2
from services.runner.backends.base import OutputChunk
from services.runner.rollout import warning_event
from services.runner.sequencer import EventSequencer

#: A line longer than this is sent in pieces marked partial, so one huge line cannot hold memory.
MAX_LINE_BYTES = 64 * 1024

STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT
STDERR = common_pb2.LogStream.LOG_STREAM_STDERR


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

    Lines and bytes of text per run are capped: past either cap the container keeps running and its
    output is read (so it never blocks), but no more events are made of it; one warning says so. The
    counts live in the sequencer's cursor, so the cap holds across a runner restart.
    """

    def __init__(
        self,
        sequencer: EventSequencer,
        resume_after: tuple[int, int] = (0, 0),
        *,
        max_lines: int = 200_000,
        max_bytes: int = 64 << 20,
    ) -> None:
        self.sequencer = sequencer
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        used = sequencer.cursor.get("output", (0, 0, False))
        self._lines_left = max_lines - int(used[0])
        self._bytes_left = max_bytes - int(used[1])
        self.capped = bool(used[2])
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
        for whole in chunks:
            splitter = splitters[whole.stream]
            if whole.frames > 1:
                count = whole.frames
                if self._skip is None and not splitter.pending and not self.capped:
                    lines_left, bytes_left = self._lines_left - count, self._bytes_left - (len(whole.data) - count)
                    if lines_left >= 0 and bytes_left >= 0:
                        # Merged whole-line frames (docker_logs.py): decoded and split in one pass.
                        # A newline never falls inside a UTF-8 sequence, so decoding the lines
                        # together gives what decoding each would.
                        text = whole.data.decode("utf-8", errors="replace")
                        lines = text.split("\n")
                        lines.pop()
                        if "\r" in text:
                            lines = [line.rstrip("\r") for line in lines]
                        self._lines_left, self._bytes_left = lines_left, bytes_left
                        sequencer.emit_lines(splitter.stream, lines)
                        frame += count
                        self._last = (frame, 1)
                        continue
                parts = whole.split()  # near a cap, resuming, or after a partial line: frame by frame
            else:
                parts = [whole]
            for chunk in parts:
                frame += 1
                self._feed_frame(chunk, splitter, frame, emit_line)
        self.frames = frame
        if self._last is not None:
            sequencer.cursor["log"] = self._last
        sequencer.cursor["output"] = self._used()

    def _feed_frame(
        self, chunk: OutputChunk, splitter: LineSplitter, frame: int, emit_line: Callable[[int, str, bool], None]
    ) -> None:
        """One frame, numbered `frame`."""
        data = chunk.data
        if self._skip is None and not splitter.pending and data[-1:] == b"\n" and data.count(b"\n") == 1:
            # The common case, one whole line per frame, without the splitter's bookkeeping.
            if self.capped:
                return
            self._lines_left -= 1
            self._bytes_left -= len(data) - 1
            if self._lines_left < 0 or self._bytes_left < 0:
                self._cap()
                return
            emit_line(splitter.stream, data[:-1].decode("utf-8", errors="replace").rstrip("\r"), False)
            self._last = (frame, 1)
        else:
            self.frames = frame
            self._line = 0
            splitter.feed(data)

    def _used(self) -> tuple[int, int, bool]:
        return (self.max_lines - self._lines_left, self.max_bytes - self._bytes_left, self.capped)

    def _cap(self) -> None:
        """The line that crossed a cap: dropped, and the one warning of the run about it."""
        self.capped = True
        self._lines_left = max(self._lines_left, 0)
        self._bytes_left = max(self._bytes_left, 0)
        which = f"{self.max_lines} lines" if self._lines_left == 0 else f"{self.max_bytes} bytes"
        self.sequencer.emit(
            rollout=warning_event(
                f"output limit of {which} per run reached; the run goes on but later output is not recorded",
                limit="output",
            )
        )
        self.sequencer.cursor["output"] = self._used()

    def finish(self) -> None:
        """The output has ended: unterminated last lines count as one more frame."""
        self.sequencer.touch()
        self.frames += 1
        self._line = 0
        for splitter in self._splitters.values():
            splitter.flush()
        if self._last is not None:
            self.sequencer.cursor["log"] = self._last
        self.sequencer.cursor["output"] = self._used()

    def _on_line(self, stream: int, text: str, partial: bool) -> None:
        self._line += 1
        if self._skip is not None:
            if (self.frames, self._line) <= self._skip:
                return
            self._skip = None
        if self.capped:
            return
        self._lines_left -= 1
        self._bytes_left -= len(text)
        if self._lines_left < 0 or self._bytes_left < 0:
            self._cap()
            return
        self.sequencer.emit_line(stream, text, partial)
        self._last = (self.frames, self._line)
