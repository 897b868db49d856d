"""A run's files into the store: which files count, what is not stored yet, and the upload with its events.

Every regular file under the output areas is an artifact; symlinks are never followed, so an agent
cannot make the runner upload a host file. Each stored file is announced with an `artifact_stored`
event carrying its sha256.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

from mleredux.errors import StoreError
from mleredux.store import sha256_file
from mleredux.v1 import common_pb2
from services.runner.container_contract import OUTPUT_AREAS
from services.runner.rollout import warning_event
from services.runner.sequencer import EventSequencer
from services.runner.uploads import ArtifactUploader, PendingUpload
from services.runner.verdict import FailureReason, RunState, Verdict

#: How long a cancelled run waits for the store before handing its files to the background uploader.
CANCEL_STORE_WAIT_SECONDS = 10.0


class RunArtifacts:
    """The files of one run and which of them are in the store already."""

    def __init__(
        self,
        run_id: str,
        work_dir: Path,
        sequencer: EventSequencer,
        uploader: ArtifactUploader,
        stored: set[str],
    ) -> None:
        self.run_id = run_id
        self.work_dir = work_dir
        self.sequencer = sequencer
        self.uploader = uploader
        #: Names already in the store (announced by an artifact_stored event).
        self.stored = stored
        #: True once every file of the run is in the store or handed to the background uploader.
        self.settled = False

    def files(self) -> Iterator[tuple[str, Path]]:
        """(name, path) of every regular file the run produced."""
        for area in OUTPUT_AREAS:
            root = self.work_dir / area
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                for filename in sorted(filenames):
                    path = Path(dirpath) / filename
                    if path.is_symlink() or not path.is_file():
                        continue
                    relative = path.relative_to(self.work_dir).as_posix()
                    # rollout.jsonl has its own place in the run's store layout.
                    yield ("rollout.jsonl" if relative == "logs/rollout.jsonl" else relative), path

    def pending_uploads(self) -> list[PendingUpload]:
        """The files not stored yet (hashed here: used on the failure path only)."""
        return [item for _, item in self.uploads()]

    def uploads(self) -> list[tuple[str, PendingUpload]]:
        items = []
        for name, path in self.files():
            if name not in self.stored:
                relative = path.relative_to(self.work_dir).as_posix()
                key = f"runs/{self.run_id}/{name}"
                items.append((name, PendingUpload(key, relative, sha256_file(path), path.stat().st_size)))
        return items

    def hand_over_rest(self) -> None:
        """Failed or cancelled before its files were stored: they go to the background uploader
        rather than being lost with the work dir."""
        self.uploader.hand_over(self.work_dir, self.pending_uploads())

    async def store(self, verdict: Verdict, store_wait_seconds: float) -> Verdict:
        """Uploads every file not yet stored, each announced with its sha256. A store that stays down
        past the deadline gets the rest through the background uploader; the verdict says so."""
        items = await asyncio.to_thread(self.uploads)
        if not items:
            self.settled = True
            return verdict
        wait = store_wait_seconds
        if verdict.state == RunState.RUN_STATE_CANCELLED:
            wait = min(wait, CANCEL_STORE_WAIT_SECONDS)
        failures: list[StoreError] = []

        def failed(exc: StoreError, delay: float) -> None:
            if not failures:
                self.sequencer.emit(
                    rollout=warning_event(
                        f"artifact store unavailable ({exc}); the run's files are kept on the runner and "
                        f"uploads are retried (next in {delay:.1f}s)"
                    )
                )
            failures.append(exc)

        pending = list(items)
        try:
            async with asyncio.timeout(wait):
                while pending:
                    name, item = pending[0]
                    await self.uploader.upload(item, self.work_dir, on_failure=failed)
                    pending.pop(0)
                    self.stored.add(name)
                    self.sequencer.emit(
                        artifact_stored=common_pb2.ArtifactStored(
                            name=name, key=item.key, size_bytes=item.size_bytes, sha256=item.sha256
                        )
                    )
        except TimeoutError:
            self.uploader.hand_over(self.work_dir, [item for _, item in pending])
            self.settled = True
            message = (
                f"artifact store unavailable for {wait:g}s ({failures[-1] if failures else 'no answer'}); "
                f"{len(pending)} files are kept on the runner and uploaded when the store is back"
            )
            if verdict.state != RunState.RUN_STATE_GRADING:
                return Verdict(verdict.state, verdict.reason, f"{verdict.message}; {message}", verdict.exit_code)
            return Verdict(
                RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_STORE_UNAVAILABLE, message, verdict.exit_code
            )
        except asyncio.CancelledError:
            self.uploader.hand_over(self.work_dir, [item for _, item in pending])
            self.settled = True
            raise
        self.settled = True
        if failures:
            self.sequencer.emit(
                rollout=warning_event(f"artifact store reachable again after {len(failures)} failed attempts")
            )
        return verdict
