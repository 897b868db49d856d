"""A service process's scratch folders, reaped even when the process is killed.

A `TemporaryDirectory` is removed when its `with` block ends, which a `kill -9` (or an OOM kill)
never lets happen: a grader killed mid-grade left its `mleredux-grade-*` folder, submission inside,
in the system's temp dir for good. So each process makes its per-request folders inside one folder
of its own, named after its pid and its start time (`<parent>/mleredux-<service>-scratch/<pid>.<ticks>`),
and the next process of the same service removes the folders of every process that is gone. A pid
alone is not enough: the kernel hands out pids again, and a live stranger with a dead process's pid
would keep its folder forever; the start time tells them apart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def _start_ticks(pid: int) -> str | None:
    """A process's start time (clock ticks after boot, /proc/PID/stat field 22); None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the last one.
    return stat.rpartition(")")[2].split()[19]


class ServiceScratch:
    """Scratch folders for one service process under `parent` (the system's temp dir by default).

    `claim()` makes this process's own folder and removes those of processes that are gone; it is
    called once at start-up, before any request. `folder(prefix)` is a temporary folder inside it,
    removed when the block ends. `release()` removes the process's folder at a clean stop. Raises
    `OSError` when `parent` cannot be written.
    """

    def __init__(self, service: str, parent: Path | None = None) -> None:
        self.root = (parent or Path(tempfile.gettempdir())) / f"mleredux-{service}-scratch"
        pid = os.getpid()
        self.own = self.root / f"{pid}.{_start_ticks(pid) or 0}"

    def claim(self) -> int:
        """Makes this process's folder; returns how many folders of gone processes it removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        removed = 0
        for entry in self.root.iterdir():
            if entry == self.own or self._alive(entry.name):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        self.own.mkdir(parents=True, exist_ok=True)  # a releasing process may just have removed the root
        if removed:
            log.info("removed %d scratch folders left by earlier processes in %s", removed, self.root)
        return removed

    @staticmethod
    def _alive(name: str) -> bool:
        pid, _, ticks = name.partition(".")
        if not pid.isdigit():
            return False  # not one of ours: nothing else belongs here
        return _start_ticks(int(pid)) == ticks

    def release(self) -> None:
        """Removes this process's folder, with anything in it (at a clean stop, once no request runs),
        and the service's folder too when no other process has one there."""
        shutil.rmtree(self.own, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: another process of the service is running
            self.root.rmdir()

    @contextlib.contextmanager
    def folder(self, prefix: str) -> Iterator[Path]:
        """A fresh folder for one request, removed with what it holds when the block ends."""
        self.own.mkdir(parents=True, exist_ok=True)  # an operator's tmp cleaner may have taken it
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.own))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
