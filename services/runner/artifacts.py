"""A run's files into the store: which files count, what is not stored yet, and the upload with its events.

Every regular file under the output areas is an artifact; symlinks are never followed, so an agent
cannot make the runner upload a host file. Each stored file is announced with an `artifact_stored`
event carrying its sha256.

File names are the agent's bytes: any of them may be invalid UTF-8, hold a newline or be nested
thousands of directories deep. A name component that is not printable UTF-8 is stored under an
encoded name (each offending byte, and `%`, as `%XX`); a path whose stored name would be longer than
`MAX_NAME_BYTES` is skipped (the walk never descends past that, so no host path reaches PATH_MAX);
files and bytes are capped per run. Whatever is skipped or renamed is said in one warning event per
kind, and the run's other files are kept.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from mleredux.errors import StoreError
from mleredux.store import sha256_file
from mleredux.v1 import common_pb2
from services.runner.container_contract import OUTPUT_AREAS, areas_root
from services.runner.limits import RunLimits
from services.runner.rollout import warning_event
from services.runner.sequencer import EventSequencer
from services.runner.uploads import ArtifactUploader, PendingUpload
from services.runner.verdict import FailureReason, RunState, Verdict

#: Where the runner records a run's model calls (services/runner/model_access.py), outside the agent's disk.
MODEL_CALLS_AREA = "model_calls"

#: How long a cancelled run waits for the store before handing its files to the background uploader.
CANCEL_STORE_WAIT_SECONDS = 10.0

#: Longest stored name (UTF-8 bytes, relative to the run): S3 keys hold at most 1024 bytes.
MAX_NAME_BYTES = 900
#: How many examples a warning about skipped or renamed files quotes.
EXAMPLES = 5


def safe_component(raw: bytes) -> str:
    """A path component as a store name: itself when it is printable UTF-8, else encoded (the bytes
    that are not printable UTF-8, and `%`, as `%XX`), so any byte sequence gets a usable name."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.isprintable():
            return text
    out: list[str] = []
    for char in raw.decode("utf-8", "surrogateescape"):
        if "\udc80" <= char <= "\udcff":  # a byte that is not UTF-8
            out.append(f"%{ord(char) - 0xDC00:02X}")
        elif char == "%" or not char.isprintable():
            out.append("".join(f"%{byte:02X}" for byte in char.encode()))
        else:
            out.append(char)
    return "".join(out)


@dataclass
class ArtifactFile:
    """A file of the run: its stored name, its path on the host, its size."""

    name: str
    path: Path
    size_bytes: int


@dataclass
class Selection:
    """The files a run's artifacts are made of, and what was left out or renamed (for warnings)."""

    files: list[ArtifactFile] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)
    clashing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    over_files: int = 0
    over_bytes: list[str] = field(default_factory=list)

    def warnings(self, limits: RunLimits) -> list[str]:
        def examples(names: list[str]) -> str:
            shown = ", ".join(repr(n[:120]) for n in names[:EXAMPLES])
            return shown + (", ..." if len(names) > EXAMPLES else "")

        found = []
        if self.renamed:
            found.append(
                f"{len(self.renamed)} file names are not printable UTF-8 and are stored encoded: "
                f"{examples(self.renamed)}"
            )
        if self.too_long:
            found.append(
                f"{len(self.too_long)} files or directories with paths longer than {MAX_NAME_BYTES} bytes "
                f"were not uploaded: {examples(self.too_long)}"
            )
        if self.clashing:
            found.append(
                f"{len(self.clashing)} files were not uploaded: their encoded names clash with other files: "
                f"{examples(self.clashing)}"
            )
        if self.unreadable:
            found.append(f"{len(self.unreadable)} directories could not be read: {examples(self.unreadable)}")
        if self.over_files:
            found.append(f"file limit of {limits.max_artifact_files} per run reached; the rest were not uploaded")
        if self.over_bytes:
            found.append(
                f"upload limit of {limits.max_artifact_bytes} bytes per run reached; {len(self.over_bytes)} files "
                f"were not uploaded: {examples(self.over_bytes)}"
            )
        return found


def select_files(work_dir: Path, limits: RunLimits) -> Selection:
    """Walks the output areas (submission first: it is what gets graded) without following symlinks,
    iteratively and with bytes paths, so no name, encoding or depth can make the walk fail."""
    selection = Selection()
    names: set[str] = set()
    total = 0
    # The agent's areas are on the run's disk; the model calls the runner recorded are beside it.
    areas = [(os.fsencode(areas_root(work_dir)), area) for area in OUTPUT_AREAS]
    areas.append((os.fsencode(work_dir), MODEL_CALLS_AREA))
    for root, area in areas:
        if area == MODEL_CALLS_AREA and not (work_dir / area).is_dir():
            continue
        stack: list[tuple[bytes, str]] = [(area.encode(), area)]
        while stack:
            raw_dir, name_dir = stack.pop()
            try:
                with os.scandir(root + b"/" + raw_dir) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError:
                selection.unreadable.append(name_dir)
                continue
            subdirs: list[tuple[bytes, str]] = []
            for entry in entries:
                raw = raw_dir + b"/" + entry.name
                component = safe_component(entry.name)
                name = f"{name_dir}/{component}"
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file(follow_symlinks=False)
                    size = entry.stat(follow_symlinks=False).st_size if is_file else 0
                except OSError:
                    continue
                if not (is_dir or is_file):
                    continue  # symlinks, FIFOs, sockets, devices: never uploaded
                if len(name.encode()) > MAX_NAME_BYTES:
                    selection.too_long.append(name)
                    continue
                if component != os.fsdecode(entry.name):
                    selection.renamed.append(name)
                if is_dir:
                    subdirs.append((raw, name))
                    continue
                if name == "logs/rollout.jsonl":
                    name = "rollout.jsonl"  # it has its own place in the run's store layout
                if name in names:
                    selection.clashing.append(name)
                    continue
                if len(selection.files) >= limits.max_artifact_files:
                    selection.over_files += 1
                    return selection  # past the cap nothing more is needed of the tree
                if total + size > limits.max_artifact_bytes:
                    selection.over_bytes.append(name)
                    continue
                names.add(name)
                total += size
                selection.files.append(ArtifactFile(name, Path(os.fsdecode(root + b"/" + raw)), size))
            stack.extend(reversed(subdirs))  # depth first, in name order
    return selection


class RunArtifacts:
    """The files of one run and which of them are in the store already."""

    def __init__(
        self,
        run_id: str,
        work_dir: Path,
        sequencer: EventSequencer,
        uploader: ArtifactUploader,
        stored: set[str],
        limits: RunLimits | None = None,
    ) -> None:
        self.run_id = run_id
        self.work_dir = work_dir
        self.sequencer = sequencer
        self.uploader = uploader
        #: Names already in the store (announced by an artifact_stored event).
        self.stored = stored
        #: True once every file of the run is in the store or handed to the background uploader.
        self.settled = False
        self.limits = limits or RunLimits()
        self._warned = False

    def uploads(self) -> tuple[list[tuple[str, PendingUpload]], list[str]]:
        """The files not stored yet, hashed, and the warnings about what was left out (blocking)."""
        selection = select_files(self.work_dir, self.limits)
        items = []
        for file in selection.files:
            if file.name not in self.stored:
                relative = os.fsdecode(os.path.relpath(os.fsencode(file.path), os.fsencode(self.work_dir)))
                key = f"runs/{self.run_id}/{file.name}"
                try:
                    digest = sha256_file(file.path)
                except OSError:
                    continue  # vanished or unreadable: nothing to keep
                items.append((file.name, PendingUpload(key, relative, digest, file.size_bytes)))
        return items, selection.warnings(self.limits)

    def _warn(self, warnings: list[str]) -> None:
        if not self._warned:
            self._warned = True
            for message in warnings:
                self.sequencer.emit(rollout=warning_event(message, limit="artifacts"))

    def hand_over_rest(self) -> None:
        """Failed or cancelled before its files were stored: they go to the background uploader
        rather than being lost with the work dir."""
        items, warnings = self.uploads()
        self._warn(warnings)
        self.uploader.hand_over(self.work_dir, [item for _, item in items])

    async def store(self, verdict: Verdict, store_wait_seconds: float) -> Verdict:
        """Uploads every file not yet stored, each announced with its sha256. A store that stays down
        past the deadline gets the rest through the background uploader; the verdict says so."""
        items, warnings = await asyncio.to_thread(self.uploads)
        self._warn(warnings)
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
