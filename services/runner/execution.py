"""One run on the runner: a work dir, a validation socket, a container, live capture, artifacts.

`RunExecution` owns everything it creates and releases it on every path (success, error, cancel,
timeout): the container is removed, the socket closed, the work dir deleted once its files are in
the store (kept, and the run failed as STORE_UNAVAILABLE, when the store is down, so nothing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mleredux.errors import ChecksumMismatchError, ImageMissingError, MleReduxError, StoreError
from mleredux.published_datasets import fetch_published_dataset
from mleredux.store import ArtifactStore, sha256_file
from mleredux.v1 import common_pb2
from services.runner.backends.base import ContainerBackend, ContainerExit, ContainerSpec, Mount
from services.runner.capture import EventSequencer, LineSplitter, RolloutTailer
from services.runner.validation_socket import ValidationAnswer, ValidationSocket, Validator

#: Where the container contract puts things (MLE-bench compatible paths).
DATA_DIR = "/home/data"
SUBMISSION_DIR = "/home/submission"
CODE_DIR = "/home/code"
LOGS_DIR = "/home/logs"
AGENT_DIR = "/home/agent"
SOCKET_DIR = "/run/mleredux"
SOCKET_NAME = "grader.sock"

#: The script every container gets at /home/validate_submission.sh.
VALIDATE_SCRIPT = Path(__file__).resolve().parents[2] / "agent_images" / "common" / "validate_submission.sh"

RunState = common_pb2.RunState
FailureReason = common_pb2.FailureReason

DEFAULT_INSTRUCTIONS = """\
You are an agent solving the competition {competition_id}.

- The competition's files and its description are in {data} (read-only): start with description.md.
- Write your predictions to {submission}/submission.csv in the format of {data}/sample_submission.csv.
  It is the only file graded.
- Keep your code in {code} and anything worth keeping in {logs}: both are saved as artifacts.
- Append one JSON object per line to {logs}/rollout.jsonl to record what you do, e.g.
  {{"step": 1, "kind": "plan", "payload": {{"text": "..."}}}}.
- Check your submission's format (never its score) with: sh /home/validate_submission.sh FILE
- You have no network. Your time limit is {time_limit} seconds.
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


@dataclass(frozen=True)
class Verdict:
    """How the container part of a run ended."""

    state: int
    reason: int
    message: str
    exit_code: int | None = None


class RunExecution:
    """Drives one run; `sequencer.batches()` is its live event stream."""

    def __init__(
        self,
        request: RunRequest,
        *,
        backend: ContainerBackend,
        store: ArtifactStore,
        validate: Validator,
        work_root: Path,
        runner_id: str,
    ) -> None:
        self.request = request
        self.backend = backend
        self.store = store
        self._validate = validate
        self.work_dir = work_root / "runs" / request.run_id
        self.datasets_dir = work_root / "datasets"
        self.runner_id = runner_id
        self.sequencer = EventSequencer(request.run_id, request.first_seq)
        self.container_id: str | None = None
        self._cancel_reason: str | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"run-{self.request.run_id}")

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def wait(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def cancel(self, reason: str) -> None:
        """Ends the run as CANCELLED: the container is killed and then removed by the run itself."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        if self.container_id is not None:
            with contextlib.suppress(MleReduxError, OSError):
                await self.backend.kill(self.container_id)
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    # -- the run -----------------------------------------------------------------------------------

    def _status(self, verdict: Verdict) -> None:
        change = common_pb2.StatusChange(state=verdict.state, reason=verdict.reason, message=verdict.message)  # type: ignore[arg-type]
        if verdict.exit_code is not None:
            change.exit_code = verdict.exit_code
        self.sequencer.emit(status_change=change)

    async def _run(self) -> None:
        socket: ValidationSocket | None = None
        stored = False
        try:
            self._make_work_dir()
            public_dir = await self._ensure_dataset()
            socket = ValidationSocket(self.work_dir / "sock" / SOCKET_NAME, self._validate, self._record_validation)
            await socket.start()
            if self._cancel_reason is not None:
                raise asyncio.CancelledError
            self.container_id = await self.backend.start(self._spec(public_dir))
            self._status(Verdict(RunState.RUN_STATE_RUNNING, 0, f"container {self.container_id[:12]} started"))
            verdict = await self._supervise(self.container_id)
            await self._store_artifacts()
            stored = True
            self._status(verdict)
        except asyncio.CancelledError:
            self._status(
                Verdict(
                    RunState.RUN_STATE_CANCELLED,
                    FailureReason.FAILURE_REASON_CANCELLED,
                    self._cancel_reason or "cancelled",
                )
            )
            if self._cancel_reason is None:
                raise
        except ImageMissingError as exc:
            self._status(Verdict(RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_IMAGE_MISSING, str(exc)))
        except (StoreError, ChecksumMismatchError) as exc:
            self._status(
                Verdict(
                    RunState.RUN_STATE_FAILED,
                    FailureReason.FAILURE_REASON_STORE_UNAVAILABLE,
                    f"{exc} (files kept on the runner in {self.work_dir})",
                )
            )
        except Exception as exc:
            message = str(exc) if isinstance(exc, MleReduxError) else f"runner error: {type(exc).__name__}: {exc}"
            self._status(Verdict(RunState.RUN_STATE_FAILED, FailureReason.FAILURE_REASON_INTERNAL, message))
        finally:
            # Shielded: the container must go even when this task is being cancelled.
            await asyncio.shield(self._release(socket, keep_files=not stored))
            self.sequencer.close()

    async def _release(self, socket: ValidationSocket | None, *, keep_files: bool) -> None:
        if self.container_id is not None:
            with contextlib.suppress(Exception):
                await self.backend.remove(self.container_id)
        if socket is not None:
            await socket.stop()
        if not keep_files or self._cancel_reason is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _make_work_dir(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for name in ("submission", "code", "logs"):
            path = self.work_dir / name
            path.mkdir(exist_ok=True)
            # The agent runs unprivileged; it must be able to write its outputs here.
            os.chmod(path, 0o777)
        (self.work_dir / "sock").mkdir(exist_ok=True)
        os.chmod(self.work_dir / "sock", 0o755)
        request = self.request
        text = request.instructions or DEFAULT_INSTRUCTIONS.format(
            competition_id=request.competition_id,
            data=DATA_DIR,
            submission=SUBMISSION_DIR,
            code=CODE_DIR,
            logs=LOGS_DIR,
            time_limit=request.time_limit_seconds,
        )
        (self.work_dir / "instructions.txt").write_text(text)

    async def _ensure_dataset(self) -> Path:
        """The public files on this host: the preparer's dir when shared, else fetched from the store."""
        request = self.request
        if request.public_dir is not None and (request.public_dir / "sample_submission.csv").is_file():
            return request.public_dir
        if not request.store_prefix:
            raise MleReduxError(
                f"dataset of {request.competition_id} is neither on this host ({request.public_dir}) "
                "nor in the store (no store prefix given)"
            )
        target = self.datasets_dir / request.store_prefix.strip("/") / "public"
        return await asyncio.to_thread(fetch_published_dataset, self.store, request.store_prefix, target)

    def _spec(self, public_dir: Path) -> ContainerSpec:
        request = self.request
        work = self.work_dir
        mounts = [
            Mount(str(public_dir), DATA_DIR, read_only=True),
            Mount(str(work / "submission"), SUBMISSION_DIR),
            Mount(str(work / "code"), CODE_DIR),
            Mount(str(work / "logs"), LOGS_DIR),
            # The socket's directory, not the socket: a re-created socket gets a new inode.
            Mount(str(work / "sock"), SOCKET_DIR, read_only=True),
            Mount(str(work / "instructions.txt"), "/home/instructions.txt", read_only=True),
            Mount(str(VALIDATE_SCRIPT), "/home/validate_submission.sh", read_only=True),
        ]
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
                "mleredux.run_id": request.run_id,
                "mleredux.competition_id": request.competition_id,
                "mleredux.runner": self.runner_id,
            },
            cpus=request.cpus,
            memory_bytes=request.memory_bytes,
            pids_limit=request.pids_limit,
            shm_bytes=request.shm_bytes,
            gpus=request.gpus,
        )

    async def _supervise(self, container_id: str) -> Verdict:
        splitters = {
            "stdout": LineSplitter(common_pb2.LogStream.LOG_STREAM_STDOUT, self.sequencer),
            "stderr": LineSplitter(common_pb2.LogStream.LOG_STREAM_STDERR, self.sequencer),
        }

        async def pump() -> None:
            async for chunk in self.backend.output(container_id):
                splitters[chunk.stream].feed(chunk.data)

        tailer = RolloutTailer(self.work_dir / "logs" / "rollout.jsonl", self.sequencer)
        pump_task = asyncio.create_task(pump(), name=f"logs-{self.request.run_id}")
        tail_task = asyncio.create_task(tailer.follow(), name=f"rollout-{self.request.run_id}")
        timed_out = False
        try:
            try:
                end: ContainerExit = await asyncio.wait_for(
                    self.backend.wait(container_id), self.request.time_limit_seconds
                )
            except TimeoutError:
                timed_out = True
                await self.backend.kill(container_id)
                end = await self.backend.wait(container_id)
            # The log stream ends with the container; bounded, so a stuck engine cannot hold the run.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump_task), 30)
        finally:
            for task in (pump_task, tail_task):
                task.cancel()
            await asyncio.gather(pump_task, tail_task, return_exceptions=True)
        for splitter in splitters.values():
            splitter.flush()
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
        if end.oom_killed:
            return Verdict(
                RunState.RUN_STATE_FAILED,
                FailureReason.FAILURE_REASON_OUT_OF_MEMORY,
                f"out of memory: the {self.request.memory_bytes} byte limit was hit",
                end.exit_code,
            )
        # The container ended on its own: the gateway grades whatever submission it left.
        return Verdict(RunState.RUN_STATE_GRADING, 0, f"container exited with code {end.exit_code}", end.exit_code)

    def _record_validation(self, answer: ValidationAnswer, size: int) -> None:
        payload = {"valid": answer.valid, "message": answer.message, "bytes": size}
        import json

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

    async def _store_artifacts(self) -> None:
        for name, path in list(self._artifact_files()):
            key = f"runs/{self.request.run_id}/{name}"
            digest = await asyncio.to_thread(sha256_file, path)
            await asyncio.to_thread(self.store.put_file, key, path)
            self.sequencer.emit(
                artifact_stored=common_pb2.ArtifactStored(
                    name=name,
                    key=key,
                    size_bytes=path.stat().st_size,
                    sha256=digest,
                )
            )
