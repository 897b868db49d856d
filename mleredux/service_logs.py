"""The services' own logs, bounded: repeats collapsed, files rotated at a size cap.

A service under attack can fail the same way thousands of times a second (an accept that hits the
descriptor limit, a client that reconnects in a loop); one line per failure once grew a runner's log
by 460 MB in 100 s. Two bounds hold whatever a service writes:

- `RepeatCollapser`: a line seen among the recent ones passes at most once per `window_seconds`;
  the copies held back are counted and reported by one `… N repeated lines suppressed` line. It
  works on lines, not messages, so a multi-line traceback repeated over and over collapses too.
- `ServiceLog`: the file a service's stdout and stderr are pumped into (by the embedded stack), a
  `logging.handlers.RotatingFileHandler` of `max_bytes` with `backups` older files: at most
  `(backups + 1) * max_bytes` on disk per service, whatever it prints.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import IO

#: Defaults of the embedded stack's service logs (docs/limits.md).
DEFAULT_MAX_BYTES = 10 << 20
DEFAULT_BACKUPS = 2
#: The longest line kept; the rest of a longer one is cut (and says so).
MAX_LINE_BYTES = 16 << 10


class RepeatCollapser:
    """Lets a line through at most once per `window_seconds` among the last `remember` distinct lines."""

    def __init__(self, window_seconds: float = 10.0, remember: int = 64) -> None:
        self.window_seconds = window_seconds
        self.remember = remember
        self._passed_at: OrderedDict[str, float] = OrderedDict()
        self.suppressed = 0
        self._lock = threading.Lock()

    def feed(self, line: str, now: float | None = None) -> list[str]:
        """The lines to write for `line`: none (a repeat), or the line after a summary of held-back repeats."""
        now = time.monotonic() if now is None else now
        with self._lock:
            passed = self._passed_at.get(line)
            if passed is not None and now - passed < self.window_seconds:
                self.suppressed += 1
                return []
            self._passed_at[line] = now
            self._passed_at.move_to_end(line)
            while len(self._passed_at) > self.remember:
                self._passed_at.popitem(last=False)
            return [*self._summary(), line]

    def flush(self) -> list[str]:
        """The summary of repeats not yet reported (at the end of a stream)."""
        with self._lock:
            return self._summary()

    def _summary(self) -> list[str]:
        if not self.suppressed:
            return []
        count, self.suppressed = self.suppressed, 0
        return [f"… {count} repeated lines suppressed (each repeat passes at most once per {self.window_seconds:g}s)"]


class RepeatFilter(logging.Filter):
    """A logging filter over `RepeatCollapser`: a repeat is dropped; the next record that passes says
    how many were."""

    def __init__(self, window_seconds: float = 10.0) -> None:
        super().__init__()
        self._collapser = RepeatCollapser(window_seconds)

    def filter(self, record: logging.LogRecord) -> bool:
        lines = self._collapser.feed(f"{record.levelname}:{record.name}:{record.getMessage()}")
        if not lines:
            return False
        if len(lines) > 1:
            record.msg = f"{lines[0]}\n{record.getMessage()}"
            record.args = None
        return True


class ServiceLog:
    """A service's output file: rotated at `max_bytes`, `backups` older files kept, repeats collapsed."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        window_seconds: float = 10.0,
    ) -> None:
        self.path = path
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", errors="replace"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._collapser = RepeatCollapser(window_seconds)
        self._threads: list[threading.Thread] = []

    def write_line(self, line: str) -> None:
        for text in self._collapser.feed(line):
            self._emit(text)

    def _emit(self, text: str) -> None:
        self._handler.handle(logging.LogRecord("service", logging.INFO, "", 0, text, None, None))

    def pump(self, stream: IO[bytes], name: str) -> threading.Thread:
        """Copies `stream` (a child's pipe) into the log line by line until EOF, in a daemon thread,
        then closes it."""
        # An unbuffered pipe reads a line one byte per system call: buffered, a flood costs little.
        reader: IO[bytes] = stream
        if isinstance(stream, io.RawIOBase):
            reader = io.BufferedReader(stream, 1 << 16)

        def copy() -> None:
            try:
                while line := reader.readline(MAX_LINE_BYTES):
                    text = line.decode("utf-8", errors="replace").rstrip("\n")
                    if not line.endswith(b"\n") and len(line) >= MAX_LINE_BYTES:
                        text += " … (line cut)"
                        # Skip the rest of an overlong line rather than logging it in pieces.
                        while (rest := reader.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                            pass
                    self.write_line(text)
            except (OSError, ValueError):
                pass  # the pipe was closed under us: the service is gone
            finally:
                with contextlib.suppress(OSError):
                    reader.close()

        thread = threading.Thread(target=copy, name=f"log-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def close(self, timeout: float = 5.0) -> None:
        """Waits for the pumps to reach EOF (the service has exited), then closes the file."""
        for thread in self._threads:
            thread.join(timeout)
        for text in self._collapser.flush():
            self._emit(text)
        self._handler.close()
