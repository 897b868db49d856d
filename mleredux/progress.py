"""A one-line progress bar for preparation, redrawn in place on a terminal and printed as lines elsewhere."""

from __future__ import annotations

import shutil
import time
from typing import Protocol, TextIO


class ProgressUpdate(Protocol):
    @property
    def stage(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def files_done(self) -> int: ...
    @property
    def files_total(self) -> int: ...
    @property
    def bytes_done(self) -> int: ...
    @property
    def bytes_total(self) -> int: ...


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


class ProgressBar:
    """Shows `[stage] ####----  42% 3/7 files 12.0/30.0 MiB message` for one competition."""

    #: Redraws at most this often on a terminal; every stage change prints on a pipe.
    MIN_INTERVAL = 0.1

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self._last_draw = 0.0
        self._last_stage = ""
        self._drawn = False

    def render(self, update: ProgressUpdate, width: int = 80) -> str:
        if update.bytes_total:
            fraction = min(update.bytes_done / update.bytes_total, 1.0)
        elif update.files_total:
            fraction = min(update.files_done / update.files_total, 1.0)
        else:
            fraction = 0.0
        parts = [f"{self.label} [{update.stage}]"]
        bar_width = 20
        filled = round(fraction * bar_width)
        parts.append("#" * filled + "-" * (bar_width - filled) + f" {fraction * 100:3.0f}%")
        if update.files_total:
            parts.append(f"{update.files_done}/{update.files_total} files")
        if update.bytes_total:
            parts.append(f"{_size(update.bytes_done)}/{_size(update.bytes_total)}")
        if update.message:
            parts.append(update.message)
        line = " ".join(parts)
        return line if len(line) <= width else line[: width - 1] + "…"

    def update(self, update: ProgressUpdate) -> None:
        now = time.monotonic()
        if self.tty:
            if update.stage == self._last_stage and now - self._last_draw < self.MIN_INTERVAL:
                return
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r\x1b[2K" + self.render(update, width))
            self._drawn = True
        elif update.stage != self._last_stage or update.stage == "done":
            self.stream.write(self.render(update, 200) + "\n")
        self.stream.flush()
        self._last_stage = update.stage
        self._last_draw = now

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
