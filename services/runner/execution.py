"""One run on the runner: a work dir, a validation socket, a container, live capture, artifacts.

`RunExecution` owns what it creates and releases it on every path (success, error, cancel, timeout):
once the run's last event is journaled the container is removed, the socket closed and the capacity
lease given back. The work dir (the agent's files and the event journal) outlives the execution
until the supervisor discards it, after a client has received the last event.

A run started here and a run found again after a runner restart (`RunExecution.recover`) go through
the same supervision: the journal says which events were already given out, its cursor where the
Docker log, the rollout file and a pending timeout or cancel stood.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mleredux.errors import ChecksumMismatchError, ImageMissingError, MleReduxError, StoreError
from mleredux.preparation.published import fetch_published_dataset
from mleredux.store import ArtifactStore, sha256_file
from mleredux.v1 import common_pb2
from services.runner.backends.base import ContainerBackend, ContainerExit, ContainerGoneError, ContainerSpec, Mount
from services.runner.capacity import Admission, Claim, Lease
from services.runner.capture import EventSequencer, OutputCapture, RolloutTailer, warning_event
from services.runner.journal import JournalFile
from services.runner.uploads import ArtifactUploader, PendingUpload, read_pending
from services.runner.validation_socket import ValidationAnswer, ValidationSocket, Validator

#: Where the container contract puts things (MLE-bench compatible paths).
DATA_DIR = "/home/data"
SUBMISSION_DIR = "/home/submission"
CODE_DIR = "/home/code"
LOGS_DIR = "/home/logs"
AGENT_DIR = "/home/agent"
SOCKET_DIR = "/run/mleredux"
SOCKET_NAME = "grader.sock"

#: Files of a run's work dir that belong to the runner, not the agent.
RUN_FILE = "run.json"
JOURNAL_FILE = "events.journal"

#: Container labels: the run, and the runner that owns it (a restarted runner finds its own by these).
RUN_LABEL = "mleredux.run_id"
RUNNER_LABEL = "mleredux.runner"

#: How long a cancelled run waits for the store before handing its files to the background uploader.
CANCEL_STORE_WAIT_SECONDS = 10.0

#: The script every container gets at /home/validate_submission.sh.
VALIDATE_SCRIPT = Path(__file__).resolve().parents[2] / "agent_images" / "common" / "validate_submission.sh"

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason

TECHNIQUE_INSTRUCTIONS = """\
You are an agent working on the technique task {task}, derived from the competition {competition_id}.

- The task's files are in {data} (read-only): start with description.md, which says what to analyse.
- Write your analysis to {submission}/{task}_analysis.json following {data}/{task}_analysis.schema.json,
  and, when description.md asks for one, predictions to {submission}/submission.csv.
- Keep your code in {code} and anything worth keeping in {logs}: both are saved as artifacts.
- Append one JSON object per line to {logs}/rollout.jsonl to record what you do.
- Check a file's format (never its score) with: sh /home/validate_submission.sh FILE
- You have no network. Your time limit is {time_limit} seconds.
"""

DEFAULT_INSTRUCTIONS = """\
You are an agent solving the competition {competition_id}.

- The competition's files and its description are in {data} (read-only): start with description.md.
- Write your predictions to {submission}/submission.csv in the format of the sample submission in
  {data} (sample_submission.csv, or the name description.md gives). It is the only file graded.
- Keep your code in {code} and anything worth keeping in {logs}: both are saved as artifacts.
- Append one JSON object per line to {logs}/rollout.jsonl to record what you do, e.g.
  {{"step": 1, "kind": "plan", "payload": {{"text": "..."}}}}.
- Check your submission's format (never its score) with: sh /home/validate_submission.sh FILE
- You have no network. Your time limit is {time_limit} seconds.
"""


#: Where an evaluation's hints (earlier runs' technique analyses, never anything answer-derived) are
#: mounted read-only. A run whose env names HINTS_DIR (the gateway sets it on hinted runs) gets them
#: from the store under runs/<run_id>/hints/; other runs never look, so they need no store to start.
HINTS_DIR = "/home/hints"
#: The most hint bytes a run is given (the gateway assembles far less; this bounds a corrupt store).
MAX_HINT_BYTES = 64 << 20
HINTS_NOTE = """
- {hints} (read-only) holds hints assembled from earlier runs on this competition: analyses written by
  agents for technique tasks (and possibly their rollouts). They contain no scores and nothing derived
  from the competition's answers. {hints}/README.md says what each file is.
"""


@dataclass(frozen=True)
class RunRequest:
    """A run as the runner sees it, with every limit resolved."""

    run_id: str
    image: str
    competition_id: str
    public_dir: Path | None
    store_prefix: str
    cpus: float
    memory_bytes: int
    gpus: int
    time_limit_seconds: int
    pids_limit: int
    shm_bytes: int
    first_seq: int = 1
    task: str = ""
    instructions: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def claim(self) -> Claim:
        return Claim(cpus=self.cpus, memory_bytes=self.memory_bytes, gpus=self.gpus)

    def to_json(self) -> str:
        fields = asdict(self)
        fields["public_dir"] = str(self.public_dir) if self.public_dir is not None else None
        return json.dumps(fields, indent=1)

    @classmethod
    def from_json(cls, text: str) -> RunRequest:
        fields: dict[str, Any] = json.loads(text)
        fields["public_dir"] = Path(fields["public_dir"]) if fields.get("public_dir") else None
        return cls(**fields)


@dataclass(frozen=True)
class Verdict:
    """How the container part of a run ended."""

    state: int
    reason: int
    message: str
    exit_code: int | None = None


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
        self.container_id: str | None = recovery.container_id if recovery else None
        self.followers = 0
        self._recovery = recovery
        self._cancel_reason: str | None = sequencer.cursor.get("cancel_reason")
        self._phase = "preparing"
        self._started_at: float | None = recovery.started_at if recovery else None
        self._lease: Lease | None = None
        self._socket: ValidationSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._stored: set[str] = set(recovery.stored) if recovery else set()
        #: True once every file of the run is in the store or handed to the background uploader.
        self._files_settled = False

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
                and json.loads(e.rollout.payload_json).get("status") != 429
            ),
            stored=frozenset(e.artifact_stored.name for e in events if e.HasField("artifact_stored")),
        )
        self.container_id = container_id
        self._started_at = started_at
        self._stored = set(self._recovery.stored)
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
        if self._phase == "container":
            if self.container_id is not None:
                # On disk before the kill: a runner restarted in between still reports CANCELLED.
                self.sequencer.mark(ending="cancel", cancel_reason=self._cancel_reason)
                with contextlib.suppress(MleReduxError, OSError):
                    await self.backend.kill(self.container_id)
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    def discard(self) -> None:
        """Forgets the finished run: closes its journal and deletes its work dir, unless files in it
        still wait for the store (the uploader deletes it once they are in)."""
        self.sequencer.release()
        if read_pending(self.work_dir):
            for name in (RUN_FILE, JOURNAL_FILE):
                (self.work_dir / name).unlink(missing_ok=True)
        else:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- the run -----------------------------------------------------------------------------------

    def _status(self, verdict: Verdict) -> None:
        change = common_pb2.StatusChange(state=verdict.state, reason=verdict.reason, message=verdict.message)  # type: ignore[arg-type]
        if verdict.exit_code is not None:
            change.exit_code = verdict.exit_code
        self.sequencer.emit(status_change=change)

    async def _run(self) -> None:
        cancelled_from_outside = False
        agent_ran = self._recovery is not None
        try:
            try:
                verdict = await self._execute()
            finally:
                agent_ran = agent_ran or self.container_id is not None
            self._phase = "uploading"
            verdict = await self._store_artifacts(verdict)
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
            if agent_ran and not self._files_settled:
                # Failed or cancelled before its files were stored: they go to the background
                # uploader rather than being lost with the work dir.
                self.host.uploader.hand_over(self.work_dir, self._pending_uploads())
        except Exception as exc:
            verdict = Verdict(
                verdict.state,
                verdict.reason,
                f"{verdict.message}; its files could not be kept: {exc}",
                verdict.exit_code,
            )
        finally:
            self._phase = "ended"
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
            self._phase = "container"
            self.container_id = await self.backend.start(self._spec(public_dir))
            self._started_at = time.time()
            self._status(Verdict(RunState.RUN_STATE_RUNNING, 0, f"container {self.container_id[:12]} started"))
            if self._cancel_reason is not None:
                await self.cancel(self._cancel_reason)
        elif recovery.container_id is None:
            return self._lost_verdict(recovery)
        else:
            self._lease = self.host.admission.force(self.request.claim)
            await self._open_socket(recovery.validation_calls)
            self._phase = "container"
            if recovery.container_status == "created":
                await self.backend.start_existing(recovery.container_id)
                self._started_at = time.time()
            message = f"the runner restarted and reattached to container {recovery.container_id[:12]}"
            self._status(Verdict(RunState.RUN_STATE_RUNNING, 0, message))
        assert self.container_id is not None
        try:
            verdict = await self._supervise(self.container_id)
        except ContainerGoneError as exc:
            verdict = Verdict(RunState.RUN_STATE_LOST, FailureReason.FAILURE_REASON_RUNNER_LOST, str(exc))
        finally:
            self._release_capacity()
        return verdict

    def _lost_verdict(self, recovery: Recovery) -> Verdict:
        message = f"the container of run {self.request.run_id} is gone (removed while the runner was down)"
        return Verdict(RunState.RUN_STATE_LOST, FailureReason.FAILURE_REASON_RUNNER_LOST, message)

    async def _release(self) -> None:
        if self.container_id is not None:
            with contextlib.suppress(Exception):
                await self.backend.remove(self.container_id)
        self._release_capacity()
        if self._socket is not None:
            await self._socket.stop()
            self._socket = None

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

    def _make_work_dir(self) -> None:
        for name in ("submission", "code", "logs"):
            path = self.work_dir / name
            path.mkdir(exist_ok=True)
            # The agent runs unprivileged; it must be able to write its outputs here.
            os.chmod(path, 0o777)
        (self.work_dir / "sock").mkdir(exist_ok=True)
        os.chmod(self.work_dir / "sock", 0o755)
        request = self.request
        template = TECHNIQUE_INSTRUCTIONS if request.task else DEFAULT_INSTRUCTIONS
        text = request.instructions or template.format(
            task=request.task,
            competition_id=request.competition_id,
            data=DATA_DIR,
            submission=SUBMISSION_DIR,
            code=CODE_DIR,
            logs=LOGS_DIR,
            time_limit=request.time_limit_seconds,
        )
        if self._has_hints():
            text += HINTS_NOTE.format(hints=HINTS_DIR)
        (self.work_dir / "instructions.txt").write_text(text)

    def _has_hints(self) -> bool:
        hints = self.work_dir / "hints"
        return hints.is_dir() and any(hints.iterdir())

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
            target = self.work_dir / "hints" / relative
            if ".." in Path(relative).parts:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.host.store.get_bytes(item.key))

    async def _ensure_dataset(self) -> Path:
        """The public files on this host: the preparer's dir when shared, else fetched from the store."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._fetch_hints)
        self._make_work_dir()
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

    def _spec(self, public_dir: Path) -> ContainerSpec:
        request = self.request
        work = self.work_dir
        mounts = [
            Mount(str(public_dir), DATA_DIR, read_only=True),
            Mount(str(work / "submission"), SUBMISSION_DIR),
            Mount(str(work / "code"), CODE_DIR),
            Mount(str(work / "logs"), LOGS_DIR),
            # The socket's directory, not the socket: a re-created socket gets a new inode (and a
            # restarted runner re-creates it).
            Mount(str(work / "sock"), SOCKET_DIR, read_only=True),
            Mount(str(work / "instructions.txt"), "/home/instructions.txt", read_only=True),
            Mount(str(VALIDATE_SCRIPT), "/home/validate_submission.sh", read_only=True),
        ]
        if self._has_hints():
            mounts.append(Mount(str(work / "hints"), HINTS_DIR, read_only=True))
        env = {
            **request.env,
            "COMPETITION_ID": request.competition_id,
            "SUBMISSION_DIR": SUBMISSION_DIR,
            "LOGS_DIR": LOGS_DIR,
            "CODE_DIR": CODE_DIR,
            "AGENT_DIR": AGENT_DIR,
            "TIME_LIMIT_SECS": str(request.time_limit_seconds),
            "MLEREDUX_RUN_ID": request.run_id,
            "MLEREDUX_GRADER_SOCKET": f"{SOCKET_DIR}/{SOCKET_NAME}",
        }
        if request.task:
            env["MLEREDUX_TASK"] = request.task
        return ContainerSpec(
            name=f"mleredux-{request.run_id}",
            image=request.image,
            env=env,
            mounts=mounts,
            labels={
                RUN_LABEL: request.run_id,
                "mleredux.competition_id": request.competition_id,
                RUNNER_LABEL: self.host.runner_id,
            },
            cpus=request.cpus,
            memory_bytes=request.memory_bytes,
            pids_limit=request.pids_limit,
            shm_bytes=request.shm_bytes,
            gpus=request.gpus,
        )

    async def _pump(self, container_id: str, capture: OutputCapture) -> None:
        """Feeds the log stream to the capture; a broken stream is read again from the start, its
        frames already fed skipped."""
        failures = 0
        while True:
            seen = 0
            try:
                async for frames in self.backend.output(container_id):
                    skip = capture.frames - seen  # fed before the stream broke and was read again
                    seen += len(frames)
                    if skip < len(frames):
                        capture.feed_all(frames[skip:] if skip > 0 else frames)
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
        capture = OutputCapture(self.sequencer, resume_after=(int(log_position[0]), int(log_position[1])))
        tailer = RolloutTailer(
            self.work_dir / "logs" / "rollout.jsonl", self.sequencer, offset=cursor.get("rollout", 0)
        )
        pump_task = asyncio.create_task(self._pump(container_id, capture), name=f"logs-{self.request.run_id}")
        tail_task = asyncio.create_task(tailer.follow(), name=f"rollout-{self.request.run_id}")
        timed_out = cursor.get("ending") == "timeout"
        try:
            if cursor.get("ending") in ("timeout", "cancel"):
                # Decided before a restart; the kill may not have happened yet.
                await self.backend.kill(container_id)
            started = self._started_at if self._started_at is not None else time.time()
            remaining = self.request.time_limit_seconds - (time.time() - started)
            try:
                end: ContainerExit = await asyncio.wait_for(self.backend.wait(container_id), max(remaining, 0.0))
            except TimeoutError:
                timed_out = True
                self.sequencer.mark(ending="timeout")
                await self.backend.kill(container_id)
                end = await self.backend.wait(container_id)
            # The log stream ends with the container; bounded, so a stuck engine cannot hold the run.
            try:
                await asyncio.wait_for(asyncio.shield(pump_task), 30)
            except TimeoutError:
                self.sequencer.emit(rollout=warning_event("the container's log stream did not end; output may be cut"))
            except MleReduxError as exc:
                self.sequencer.emit(rollout=warning_event(f"output may be cut: {exc}"))
        finally:
            for task in (pump_task, tail_task):
                task.cancel()
            await asyncio.gather(pump_task, tail_task, return_exceptions=True)
        capture.finish()
        tailer.poll(final=True)

        if self._cancel_reason is not None:
            return Verdict(
                RunState.RUN_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, self._cancel_reason, end.exit_code
            )
        if timed_out:
            return Verdict(
                RunState.RUN_STATE_TIMED_OUT,
                FailureReason.FAILURE_REASON_TIME_LIMIT,
                f"time limit of {self.request.time_limit_seconds}s reached; container killed",
                end.exit_code,
            )
        if end.oom_killed and end.exit_code != 0:
            return Verdict(
                RunState.RUN_STATE_FAILED,
                FailureReason.FAILURE_REASON_OUT_OF_MEMORY,
                f"out of memory: the {self.request.memory_bytes} byte limit was hit and the agent was killed",
                end.exit_code,
            )
        # The container ended on its own: the gateway grades whatever submission it left. A child
        # process killed for memory does not fail a run whose agent carried on and exited cleanly.
        message = f"container exited with code {end.exit_code}"
        if end.oom_killed:
            message += " (a process in it was killed for exceeding the memory limit)"
        return Verdict(RunState.RUN_STATE_GRADING, 0, message, end.exit_code)

    def _record_validation(self, answer: ValidationAnswer, size: int, status: int) -> None:
        payload = {"valid": answer.valid, "message": answer.message, "bytes": size, "status": status}
        self.sequencer.emit(rollout=common_pb2.RolloutEvent(kind="validation", payload_json=json.dumps(payload)))

    # -- artifacts ---------------------------------------------------------------------------------

    def _artifact_files(self) -> Iterator[tuple[str, Path]]:
        """(name, path) of every regular file the run produced; symlinks are never followed, so an
        agent cannot make the runner upload a host file."""
        for area in ("submission", "code", "logs"):
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

    def _pending_uploads(self) -> list[PendingUpload]:
        """The files not stored yet (hashed here: used on the failure path only)."""
        return [item for _, item in self._uploads()]

    def _uploads(self) -> list[tuple[str, PendingUpload]]:
        items = []
        for name, path in self._artifact_files():
            if name not in self._stored:
                relative = path.relative_to(self.work_dir).as_posix()
                key = f"runs/{self.request.run_id}/{name}"
                items.append((name, PendingUpload(key, relative, sha256_file(path), path.stat().st_size)))
        return items

    async def _store_artifacts(self, verdict: Verdict) -> Verdict:
        """Uploads every file not yet stored, each announced with its sha256. A store that stays down
        past the deadline gets the rest through the background uploader; the verdict says so."""
        items = await asyncio.to_thread(self._uploads)
        if not items:
            self._files_settled = True
            return verdict
        wait = self.host.store_wait_seconds
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
                    await self.host.uploader.upload(item, self.work_dir, on_failure=failed)
                    pending.pop(0)
                    self._stored.add(name)
                    self.sequencer.emit(
                        artifact_stored=common_pb2.ArtifactStored(
                            name=name, key=item.key, size_bytes=item.size_bytes, sha256=item.sha256
                        )
                    )
        except TimeoutError:
            self.host.uploader.hand_over(self.work_dir, [item for _, item in pending])
            self._files_settled = True
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
            self.host.uploader.hand_over(self.work_dir, [item for _, item in pending])
            self._files_settled = True
            raise
        self._files_settled = True
        if failures:
            self.sequencer.emit(
                rollout=warning_event(f"artifact store reachable again after {len(failures)} failed attempts")
            )
        return verdict
