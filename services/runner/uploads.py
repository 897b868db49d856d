"""Getting a run's files into the artifact store without losing any.

`ArtifactUploader.upload` retries one file until the store takes it (exponential back-off, capped),
telling the caller about each failure so the run can say why it waits. A run that cannot wait any
longer (its store deadline passed, or it was cancelled) hands its remaining files over: their list is
written next to them (`uploads.json` in the run's work dir) and a task owned by the uploader keeps
trying until the store is back. A restarted runner finds the list and carries on, so the files are
deleted only once every one of them is in the store.

Transient errors inside one attempt (a dropped connection, a 5xx) are retried by the minio client's
own HTTP retries first; this layer covers a store that is down for longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from mleredux.errors import StoreError
from mleredux.store import ArtifactStore
from services.runner.metrics import STORE_RETRIES

PENDING_FILE = "uploads.json"


@dataclass(frozen=True)
class PendingUpload:
    """A file of a run waiting for the store; `path` is relative to the run's work dir."""

    key: str
    path: str
    sha256: str
    size_bytes: int


def read_pending(work_dir: Path) -> list[PendingUpload]:
    """The hand-over list of a work dir (empty when there is none)."""
    try:
        items = json.loads((work_dir / PENDING_FILE).read_text())
    except FileNotFoundError:
        return []
    return [PendingUpload(**item) for item in items]


def write_pending(work_dir: Path, items: list[PendingUpload]) -> None:
    """Replaces the list atomically; removes it when empty."""
    target = work_dir / PENDING_FILE
    if not items:
        target.unlink(missing_ok=True)
        return
    temporary = work_dir / f".{PENDING_FILE}.tmp"
    temporary.write_text(json.dumps([asdict(item) for item in items], indent=1))
    os.replace(temporary, target)


class ArtifactUploader:
    """Uploads with retries; owns the background tasks that finish handed-over runs."""

    def __init__(
        self,
        store: ArtifactStore,
        *,
        on_drained: Callable[[Path], Awaitable[None]],
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.store = store
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._on_drained = on_drained
        self._tasks: dict[Path, asyncio.Task[None]] = {}

    async def upload(
        self, item: PendingUpload, work_dir: Path, *, on_failure: Callable[[StoreError, float], None] | None = None
    ) -> None:
        """Returns once the store has the file; retries store failures forever (the caller bounds it)."""
        delay = self.initial_backoff
        while True:
            try:
                await asyncio.to_thread(self.store.put_file, item.key, work_dir / item.path, sha256=item.sha256)
                return
            except StoreError as exc:
                if on_failure is not None:
                    on_failure(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    def hand_over(self, work_dir: Path, items: list[PendingUpload]) -> None:
        """Records the files on disk and keeps uploading them in the background."""
        pending = {item.key: item for item in read_pending(work_dir)}
        pending.update({item.key: item for item in items})
        if not pending:
            return
        write_pending(work_dir, list(pending.values()))
        self._start(work_dir)

    def pending_dirs(self) -> list[Path]:
        """Work dirs whose files are still waiting for the store."""
        return sorted(self._tasks)

    def resume(self, runs_dir: Path) -> list[Path]:
        """After a restart: continues every hand-over list found under `runs_dir`."""
        found = sorted(p.parent for p in runs_dir.glob(f"*/{PENDING_FILE}")) if runs_dir.is_dir() else []
        for work_dir in found:
            self._start(work_dir)
        return found

    def _start(self, work_dir: Path) -> None:
        task = self._tasks.get(work_dir)
        if task is None or task.done():
            self._tasks[work_dir] = asyncio.create_task(self._drain(work_dir), name=f"uploads-{work_dir.name}")

    async def _drain(self, work_dir: Path) -> None:
        warned = False

        def failed(exc: StoreError, delay: float) -> None:
            nonlocal warned
            STORE_RETRIES.inc()
            if not warned:
                warned = True
                print(f"{work_dir.name}: {exc}; files kept, retrying until the store is back", file=sys.stderr)

        try:
            while items := read_pending(work_dir):
                item = items[0]
                if (work_dir / item.path).is_file():
                    await self.upload(item, work_dir, on_failure=failed)
                else:
                    print(f"{work_dir.name}: {item.path} vanished before its upload", file=sys.stderr)
                write_pending(work_dir, read_pending(work_dir)[1:])
        finally:
            self._tasks.pop(work_dir, None)
        await self._on_drained(work_dir)

    async def close(self) -> None:
        """Stops the background uploads (their lists stay on disk for the next start)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
