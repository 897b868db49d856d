"""One run on the runner: a work dir, a validation socket, a container, live capture, artifacts.

`RunExecution` owns what it creates and releases it on every path (success, error, cancel, timeout):
once the run's last event is journaled the container is removed, the socket closed, the capacity
lease given back, and the run's disk (its bounded writable area, see run_disk.py) unmounted unless
files on it still wait for the store. The work dir (the event journal) outlives the execution until
the supervisor discards it, after a client has received the last event.

The container contract is in container_contract.py, the exit → verdict mapping in verdict.py, the
upload of the run's files in artifacts.py, the event stream in sequencer.py.

A run started here and a run found again after a runner restart (`RunExecution.recover`) go through
the same supervision: the journal says which events were already given out, its cursor where the
Docker log, the rollout file and a pending timeout or cancel stood.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mleredux import proto_json
from mleredux.errors import ChecksumMismatchError, ImageMissingError, MleReduxError, StoreError
from mleredux.preparation.published import fetch_published_dataset
from mleredux.store import ArtifactStore
from mleredux.v1 import common_pb2
from services.runner.artifacts import RunArtifacts
from services.runner.backends.base import ContainerBackend, ContainerExit, ContainerGoneError, OutputChunk
from services.runner.capacity import Admission, Lease
from services.runner.container_contract import (
    HINTS_DIR,
    MAX_HINT_BYTES,
    SOCKET_NAME,
    area_dir,
    container_spec,
    prepare_work_dir,
)
from services.runner.journal import JournalFile
from services.runner.limits import RunLimits
from services.runner.metrics import count_status
from services.runner.model_access import ModelAccess, RunModels
from services.runner.output_capture import OutputCapture
from services.runner.rollout import RolloutTailer, warning_event
from services.runner.run_disk import DiskSetupError, DiskUsage, RunDisk, release_work_dir
from services.runner.run_request import RunRequest
from services.runner.sequencer import EventSequencer
from services.runner.start_pacing import StartPacer
from services.runner.uploads import ArtifactUploader, read_pending
from services.runner.validation_socket import ValidationAnswer, ValidationSocket, Validator
from services.runner.verdict import FailureReason, RunState, Verdict, exit_verdict

__all__ = ["JOURNAL_FILE", "RUN_FILE", "Recovery", "RunExecution", "RunHost", "RunRequest", "Verdict"]

#: How often a running run's disk is looked at (to say when it is full).
DISK_CHECK_SECONDS = 1.0

#: Files of a run's work dir that belong to the runner, not the agent.
RUN_FILE = "run.json"
JOURNAL_FILE = "events.journal"


@dataclass
class RunHost:
    """What an execution borrows from its runner."""

    backend: ContainerBackend
    store: ArtifactStore
    uploader: ArtifactUploader
    admission: Admission
    runner_id: str
    work_root: Path
    #: How long a finished run waits for a store that is down before it gives up (files are kept
    #: and uploaded later either way).
    store_wait_seconds: float = 600.0
    #: The runner's model endpoints (None: runs cannot be granted model access).
    models: ModelAccess | None = None
    limits: RunLimits = field(default_factory=RunLimits)
    #: Spaces container starts out (the engine's work per start is not in any run's budget).
    start_pacer: StartPacer = field(default_factory=lambda: StartPacer(0.0))

    def work_dir(self, run_id: str) -> Path:
        return self.work_root / "runs" / run_id


@dataclass(frozen=True)
class Recovery:
    """What a restarted runner found of a run: its container (if any) and what the journal says."""

    container_id: str | None
    container_status: str
    started_at: float | None
    container_started: bool
    validation_calls: int
    stored: frozenset[str]


class RunExecution:
    """Drives one run; `sequencer.batches(after_seq)` is its event stream, for any number of followers."""

    def __init__(
        self,
        request: RunRequest,
        host: RunHost,
        validate: Validator,
        sequencer: EventSequencer,
        *,
        recovery: Recovery | None = None,
    ) -> None:
        self.request = request
        self.host = host
        self.backend = host.backend
        self._validate = validate
        self.sequencer = sequencer
        self.work_dir = host.work_dir(request.run_id)
        self.disk = RunDisk(self.work_dir, request.disk_bytes or host.limits.default_disk_bytes)
        self._disk_full_said = bool(sequencer.cursor.get("disk_full"))
        self.container_id: str | None = recovery.container_id if recovery else None
        self.followers = 0
        self._recovery = recovery
        self._cancel_reason: str | None = sequencer.cursor.get("cancel_reason")
        self._phase = "preparing"
        self._started_at: float | None = recovery.started_at if recovery else None
        self._lease: Lease | None = None
        #: Events the agent produced before its RUNNING status was emitted (None once it was).
        self._held: list[common_pb2.RolloutEvent] | None = []
        self._socket: ValidationSocket | None = None
        self._models: RunModels | None = None
        self._task: asyncio.Task[None] | None = None
        self.artifacts = RunArtifacts(
            request.run_id,
            self.work_dir,
            sequencer,
            host.uploader,
            set(recovery.stored) if recovery else set(),
            host.limits,
        )

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def create(cls, request: RunRequest, host: RunHost, validate: Validator) -> RunExecution:
        """A new run: its work dir, its request on disk, an empty journal."""
        work_dir = host.work_dir(request.run_id)
        work_dir.mkdir(parents=True)
        (work_dir / RUN_FILE).write_text(request.to_json())
        journal = JournalFile.create(work_dir / JOURNAL_FILE)
        return cls(request, host, validate, EventSequencer(request.run_id, request.first_seq, journal=journal))

    @classmethod
    def load(cls, work_dir: Path, host: RunHost, validator_for: Callable[[RunRequest], Validator]) -> RunExecution:
        """A run found on disk after a restart (not started yet; see `recover`)."""
        request = RunRequest.from_json((work_dir / RUN_FILE).read_text())
        journal, loaded = JournalFile.reopen(work_dir / JOURNAL_FILE)
        sequencer = EventSequencer(request.run_id, request.first_seq, journal=journal, loaded=loaded)
        return cls(request, host, validator_for(request), sequencer)

    def recover(self, container_id: str | None, status: str, started_at: float | None) -> None:
        """Resumes a loaded run whose journal is not closed: reattaches to its container, or ends
        the run as LOST when the container is gone."""
        events = self.sequencer.events()
        self._recovery = Recovery(
            container_id=container_id,
            container_status=status,
            started_at=started_at,
            container_started=any(
                e.HasField("status_change") and e.status_change.state == RunState.RUN_STATE_RUNNING for e in events
            ),
            validation_calls=sum(
                1
                for e in events
                if e.HasField("rollout")
                and e.rollout.kind == "validation"
                and not ("status" in e.rollout.payload and e.rollout.payload["status"] == 429)
            ),
            stored=frozenset(e.artifact_stored.name for e in events if e.HasField("artifact_stored")),
        )
        self.container_id = container_id
        self._started_at = started_at
        self.artifacts.stored = set(self._recovery.stored)
        if container_id is None and not self._recovery.container_started:
            # It was still preparing or waiting for capacity: nothing ran yet, so it simply starts
            # again, its events continuing the journal.
            self._recovery = None
            self._status(Verdict(RunState.RUN_STATE_PREPARING, 0, "the runner restarted before the run started"))
        self.start()

    @property
    def recovered(self) -> bool:
        """True for a run taken over from a previous runner process (not started from scratch)."""
        return self._recovery is not None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"run-{self.request.run_id}")

    @property
    def done(self) -> bool:
        """True once the run's last event is journaled (or it was found finished after a restart)."""
        return self.sequencer.closed and (self._task is None or self._task.done())

    async def wait(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def cancel(self, reason: str) -> None:
        """Ends the run as CANCELLED: the container is killed, the run then removes it itself."""
        if self.done or self._phase == "ended":
            return
        if self._cancel_reason is None:
            self._cancel_reason = reason
        if self._phase == "container" and self.container_id is not None:
            # On disk before the kill: a runner restarted in between still reports CANCELLED.
            self.sequencer.mark(ending="cancel", cancel_reason=self._cancel_reason)
            with contextlib.suppress(MleReduxError, OSError):
                await self.backend.kill(self.container_id)
        # Not started yet (or stuck starting, e.g. on a Docker call): the task ends, lease given back.
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    async def discard(self) -> None:
        """Forgets the finished run: closes its journal and deletes its work dir, unless files in it
        still wait for the store (the uploader deletes it once they are in)."""
        self.sequencer.release()
        if read_pending(self.work_dir):
            for name in (RUN_FILE, JOURNAL_FILE):
                (self.work_dir / name).unlink(missing_ok=True)
        else:
            # Off the loop: unmounting writes the disk's dirty pages back first.
            await asyncio.to_thread(release_work_dir, self.work_dir)

    # -- the run -----------------------------------------------------------------------------------

    def _status(self, verdict: Verdict) -> None:
        change = common_pb2.StatusChange(state=verdict.state, reason=verdict.reason, message=verdict.message)  # type: ignore[arg-type]
        if verdict.exit_code is not None:
            change.exit_code = verdict.exit_code
        if verdict.state == RunState.RUN_STATE_RUNNING:
            proto_json.from_json(self.request.profile, change.compute)
        if self._models is not None:
            change.model_usage.CopyFrom(self._models.usage())
        self.sequencer.emit(status_change=change)
        count_status(change)

    async def _run(self) -> None:
        cancelled_from_outside = False
        agent_ran = self._recovery is not None
        try:
            try:
                verdict = await self._execute()
            finally:
                agent_ran = agent_ran or self.container_id is not None
            self._phase = "uploading"
            verdict = await self.artifacts.store(verdict, self.host.store_wait_seconds)
        except asyncio.CancelledError:
            cancelled_from_outside = self._cancel_reason is None
            verdict = Verdict(
                RunState.RUN_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, self._cancel_reason or "cancelled"
            )
        except ImageMissingError as exc:
            verdict = Verdict(RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_IMAGE_MISSING, str(exc))
        except (StoreError, ChecksumMismatchError) as exc:
            verdict = Verdict(RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_STORE_UNAVAILABLE, str(exc))
        except Exception as exc:
            message = str(exc) if isinstance(exc, MleReduxError) else f"runner error: {type(exc).__name__}: {exc}"
            verdict = Verdict(RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_INTERNAL, message)
        try:
            if agent_ran and not self.artifacts.settled:
                self.artifacts.hand_over_rest()
        except Exception as exc:
            verdict = Verdict(
                verdict.state,
                verdict.reason,
                f"{verdict.message}; its files could not be kept: {exc}",
                verdict.exit_code,
            )
        finally:
            self._phase = "ended"
            self._release_held()
            self._status(verdict)
            # The verdict is on disk before the container goes: a runner killed in between finds a
            # closed journal and only has to remove the container.
            self.sequencer.close()
            # Shielded: the container must go even when this task is being cancelled.
            await asyncio.shield(self._release())
        if cancelled_from_outside:
            raise asyncio.CancelledError

    async def _execute(self) -> Verdict:
        """Starts (or reattaches to) the container and supervises it to its end."""
        recovery = self._recovery
        if recovery is None:
            public_dir = await self._ensure_dataset()
            await self._acquire_capacity()
            await self._open_socket(0)
            await self._open_models(recovering=False)
            self._phase = "container"
            spec = container_spec(self.request, self.work_dir, public_dir, self.host.runner_id, self.host.limits)
            await self.host.start_pacer.turn()
            self.container_id = await self.backend.start(self._models.apply(spec) if self._models else spec)
            self._started_at = time.time()
            self._status(Verdict(RunState.RUN_STATE_RUNNING, 0, f"container {self.container_id[:12]} started"))
            self._release_held()
            if self._cancel_reason is not None:
                await self.cancel(self._cancel_reason)
        elif recovery.container_id is None:
            return self._lost_verdict(recovery)
        else:
            await self._mount_disk()
            self._lease = self.host.admission.force(self.request.claim)
            await self._open_socket(recovery.validation_calls)
            await self._open_models(recovering=True)
            self._phase = "container"
            if recovery.container_status == "created":
                await self.backend.start_existing(recovery.container_id)
                self._started_at = time.time()
            message = f"the runner restarted and reattached to container {recovery.container_id[:12]}"
            if recovery.container_started:
                # RUNNING is in the journal already: a restart is a notice, not a second RUNNING.
                self.sequencer.emit(rollout=warning_event(message))
            else:
                self._status(Verdict(RunState.RUN_STATE_RUNNING, 0, message))
            self._release_held()
        assert self.container_id is not None
        try:
            verdict = await self._supervise(self.container_id)
        except ContainerGoneError as exc:
            verdict = Verdict(RunState.RUN_STATE_LOST, FailureReason.FAILURE_REASON_RUNNER_LOST, str(exc))
        finally:
            self._release_capacity()
            if self._models is not None:  # no model call may land after the artifacts are gathered
                await self._models.proxy.stop()
        return verdict

    def _lost_verdict(self, recovery: Recovery) -> Verdict:
        message = f"the container of run {self.request.run_id} is gone (removed while the runner was down)"
        return Verdict(RunState.RUN_STATE_LOST, FailureReason.FAILURE_REASON_RUNNER_LOST, message)

    async def _release(self) -> None:
        if self.container_id is not None:
            with contextlib.suppress(Exception):
                await self.backend.remove(self.container_id)
        self._release_capacity()
        if self._models is not None:
            await self._models.close(self.backend)
            self._models = None
        if self._socket is not None:
            await self._socket.stop()
            self._socket = None
        if not read_pending(self.work_dir):
            # Every file is in the store (or there were none): the disk is no longer needed, only
            # the journal is, until a client has the last event.
            with contextlib.suppress(DiskSetupError, OSError):
                await asyncio.to_thread(self.disk.release)

    async def _open_models(self, *, recovering: bool) -> None:
        """The run's model proxy and relay, when it was granted model access."""
        if not self.request.models:
            return
        if self.host.models is None:
            raise MleReduxError("this runner has no model endpoints configured (serve runner --models FILE)")
        self._models = await RunModels.open(
            self.host.models,
            self.request.models,
            run_id=self.request.run_id,
            work_dir=self.work_dir,
            sequencer=self.sequencer,
            backend=self.backend,
            runner_id=self.host.runner_id,
            agent_container=self.container_id if recovering else None,
        )

    def _release_capacity(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    async def _acquire_capacity(self) -> None:
        admission = self.host.admission
        self._lease = admission.try_acquire(self.request.claim)
        if self._lease is None:
            used = admission.usage()
            budget = admission.budget
            message = (
                f"waiting for runner capacity: {used.running}/{budget.max_concurrent} runs, "
                f"{used.cpus:g}/{budget.cpus:g} CPUs, {used.memory_bytes >> 20}/{budget.memory_bytes >> 20} MiB in use"
            )
            self._status(Verdict(RunState.RUN_STATE_PREPARING, 0, message))
            self._lease = await admission.acquire(self.request.claim)

    async def _open_socket(self, calls_made: int) -> None:
        self._socket = ValidationSocket(
            self.work_dir / "sock" / SOCKET_NAME, self._validate, self._record_validation, calls_made=calls_made
        )
        await self._socket.start()

    async def _mount_disk(self) -> None:
        """The run's bounded disk (created once; found mounted again after a runner restart)."""
        # A cancel must not leave the mount half made: releasing the disk while `ensure` still runs
        # in its thread would find nothing mounted, delete the image, and leave the mount behind.
        setup = asyncio.ensure_future(asyncio.to_thread(self.disk.ensure))
        try:
            mode = await asyncio.shield(setup)
        except asyncio.CancelledError:
            await asyncio.wait({setup})
            if not setup.cancelled():
                setup.exception()  # seen: the run is being cancelled anyway
            raise
        except (DiskSetupError, OSError) as exc:
            raise MleReduxError(f"the run's disk could not be set up: {exc}") from exc
        if mode == "none" and not self.sequencer.cursor.get("disk_unbounded"):
            self.sequencer.mark(disk_unbounded=True)
            self.sequencer.emit(
                rollout=warning_event(
                    "this runner cannot mount a bounded disk (not root?): the run's disk is not limited"
                )
            )

    def _check_disk(self, usage: DiskUsage | None) -> None:
        """Says once, as a warning event, that the run filled its disk (its writes then get ENOSPC)."""
        if not self._disk_full_said and usage is not None and usage.full:
            self._disk_full_said = True
            self.sequencer.cursor["disk_full"] = True
            self.sequencer.emit(
                rollout=warning_event(
                    f"disk limit of {self.disk.size_bytes} bytes reached: writes to /home/submission, /home/code, "
                    "/home/logs and /tmp fail with ENOSPC (no space left on device)",
                    limit="disk",
                    size_bytes=usage.size_bytes,
                )
            )

    async def _watch_disk(self) -> None:
        while not self._disk_full_said:
            await asyncio.sleep(DISK_CHECK_SECONDS)
            self._check_disk(await asyncio.to_thread(self.disk.usage))

    def _fetch_hints(self) -> None:
        """Copies runs/<run_id>/hints/ from the store into the work dir, for a run whose env asks for hints."""
        if self.request.env.get("HINTS_DIR") != HINTS_DIR:
            return
        prefix = f"runs/{self.request.run_id}/hints/"
        objects = self.host.store.list(prefix)
        if sum(o.size_bytes for o in objects) > MAX_HINT_BYTES:
            raise MleReduxError(f"the run's hints exceed {MAX_HINT_BYTES >> 20} MiB")
        for item in objects:
            relative = item.key[len(prefix) :]
            if ".." in Path(relative).parts:
                continue
            target = self.work_dir / "hints" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.host.store.get_bytes(item.key))

    async def _ensure_dataset(self) -> Path:
        """The public files on this host: the preparer's dir when shared, else fetched from the store."""
        await self._mount_disk()
        await asyncio.to_thread(self._fetch_hints)
        # Off the loop too: a dozen directory and file writes on the run's new disk, each of which can
        # wait for the filesystem while Docker writes container layers beside it.
        await asyncio.to_thread(prepare_work_dir, self.work_dir, self.request)
        request = self.request
        # Every prepared dataset (competition or technique task) has a description.md; the sample
        # submission's name varies by competition.
        if request.public_dir is not None and (request.public_dir / "description.md").is_file():
            return request.public_dir
        if not request.store_prefix:
            raise MleReduxError(
                f"dataset of {request.competition_id} is neither on this host ({request.public_dir}) "
                "nor in the store (no store prefix given)"
            )
        target = self.host.work_root / "datasets" / request.store_prefix.strip("/") / "public"
        return await asyncio.to_thread(fetch_published_dataset, self.host.store, request.store_prefix, target)

    async def _pump(self, container_id: str, capture: OutputCapture) -> None:
        """Feeds the log stream to the capture; a broken stream is read again from the start, its
        frames already fed skipped."""
        failures = 0
        while True:
            seen = 0
            try:
                async for chunks in self.backend.output(container_id):
                    skip = capture.frames - seen  # fed before the stream broke and was read again
                    count = sum(c.frames for c in chunks)
                    seen += count
                    if skip < count:
                        capture.feed_all(_without_first_frames(chunks, skip) if skip > 0 else chunks)
                return
            except ContainerGoneError:
                raise
            except MleReduxError as exc:
                failures += 1
                if failures > 5:
                    raise
                self.sequencer.emit(rollout=warning_event(f"{exc}; reading the log again"))
                await asyncio.sleep(0.2 * failures)

    async def _supervise(self, container_id: str) -> Verdict:
        cursor = self.sequencer.cursor
        log_position = cursor.get("log", (0, 0))
        limits = self.host.limits
        capture = OutputCapture(
            self.sequencer,
            resume_after=(int(log_position[0]), int(log_position[1])),
            max_lines=limits.max_output_lines,
            max_bytes=limits.max_output_bytes,
        )
        tailer = RolloutTailer(
            area_dir(self.work_dir, "logs") / "rollout.jsonl",
            self.sequencer,
            offset=cursor.get("rollout", 0),
            max_events=limits.max_rollout_events,
            max_bytes=limits.max_rollout_bytes,
        )
        pump_task = asyncio.create_task(self._pump(container_id, capture), name=f"logs-{self.request.run_id}")
        tail_task = asyncio.create_task(tailer.follow(), name=f"rollout-{self.request.run_id}")
        disk_task = asyncio.create_task(self._watch_disk(), name=f"disk-{self.request.run_id}")
        timed_out = cursor.get("ending") == "timeout"
        try:
            if cursor.get("ending") in ("timeout", "cancel"):
                # Decided before a restart; the kill may not have happened yet.
                await self.backend.kill(container_id)
            started = self._started_at if self._started_at is not None else time.time()
            remaining = self.request.time_limit_seconds - (time.time() - started)
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    end: ContainerExit = await self.backend.wait(container_id)
            except TimeoutError:
                timed_out = True
                self.sequencer.mark(ending="timeout")
                await self.backend.kill(container_id)
                end = await self.backend.wait(container_id)
            # The log stream ends with the container; bounded, so a stuck engine cannot hold the run.
            try:
                async with asyncio.timeout(30):
                    await asyncio.shield(pump_task)
            except TimeoutError:
                self.sequencer.emit(rollout=warning_event("the container's log stream did not end; output may be cut"))
            except MleReduxError as exc:
                self.sequencer.emit(rollout=warning_event(f"output may be cut: {exc}"))
        finally:
            for task in (pump_task, tail_task, disk_task):
                task.cancel()
            await asyncio.gather(pump_task, tail_task, disk_task, return_exceptions=True)
        capture.finish()
        tailer.safe_poll(final=True)
        self._check_disk(await asyncio.to_thread(self.disk.usage))

        return exit_verdict(
            end,
            cancel_reason=self._cancel_reason,
            timed_out=timed_out,
            time_limit_seconds=self.request.time_limit_seconds,
            memory_bytes=self.request.memory_bytes,
        )

    def _record_validation(self, answer: ValidationAnswer, size: int, status: int) -> None:
        payload = {"valid": answer.valid, "message": answer.message, "bytes": size, "status": status}
        event = common_pb2.RolloutEvent(kind="validation", payload=proto_json.struct_from(payload))
        if self.sequencer.closed:
            return  # a call racing the run's end: the run's record is complete already
        if self._held is not None:
            # The agent can call before `start` has returned: its events wait for the RUNNING status.
            self._held.append(event)
        else:
            self.sequencer.emit(rollout=event)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        for event in held or ():
            self.sequencer.emit(rollout=event)


def _without_first_frames(chunks: list[OutputChunk], count: int) -> list[OutputChunk]:
    """`chunks` less their first `count` frames (a merged chunk is split where the cut falls)."""
    kept: list[OutputChunk] = []
    for chunk in chunks:
        if count >= chunk.frames:
            count -= chunk.frames
        elif count > 0:
            kept += chunk.split()[count:]
            count = 0
        else:
            kept.append(chunk)
    return kept
