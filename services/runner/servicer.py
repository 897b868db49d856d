"""The runner's gRPC servicer: translates RPCs to `RunExecution`s and owns every one of them."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from mleredux.errors import InvalidArgumentError, MleReduxError
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import common_pb2, grader_pb2, grader_pb2_grpc, runner_pb2, runner_pb2_grpc
from services.runner.backends.base import ContainerBackend
from services.runner.backends.docker import DockerBackend
from services.runner.execution import RunExecution, RunRequest
from services.runner.validation_socket import ValidationAnswer
from services.server import SERVER_OPTIONS, Hosted
from services.status import grpc_errors


class RunAlreadyActiveError(MleReduxError):
    """A run with that id is already executing here."""

    grpc_code = "ALREADY_EXISTS"


@dataclass(frozen=True)
class RunnerSettings:
    """The runner's configuration and the defaults for limits a run leaves unset."""

    work_root: Path
    store_url: str
    grader_address: str
    cpus_total: float = 2.0
    memory_bytes_total: int = 8 << 30
    gpus_total: int = 0
    max_concurrent: int = 4
    default_cpus: float = 1.0
    default_memory_bytes: int = 2 << 30
    default_time_limit_seconds: int = 3600
    default_pids_limit: int = 512
    default_shm_bytes: int = 64 << 20

    @property
    def runner_id(self) -> str:
        """Stable per work dir, so a restarted runner recognises its own containers by label."""
        return hashlib.sha256(str(self.work_root.resolve()).encode()).hexdigest()[:12]


class RunnerServicer(runner_pb2_grpc.RunnerServiceServicer):
    """Runs containers; every execution it starts is in `active` until it has fully ended."""

    def __init__(self, settings: RunnerSettings, backend: ContainerBackend, store: ArtifactStore) -> None:
        self.settings = settings
        self.backend = backend
        self.store = store
        self.active: dict[str, RunExecution] = {}
        self._grader_channel = grpc.aio.insecure_channel(settings.grader_address, options=SERVER_OPTIONS)
        self._grader = grader_pb2_grpc.GraderServiceStub(self._grader_channel)

    def _resolve(self, request: runner_pb2.ExecuteRunRequest) -> RunRequest:
        for name in ("run_id", "image", "competition_id"):
            if not getattr(request, name):
                raise InvalidArgumentError(f"{name} is required")
        s = self.settings
        compute = request.compute
        return RunRequest(
            run_id=request.run_id,
            image=request.image,
            competition_id=request.competition_id,
            public_dir=Path(request.dataset.local_public_dir) if request.dataset.local_public_dir else None,
            store_prefix=request.dataset.store_prefix,
            cpus=compute.cpus or s.default_cpus,
            memory_bytes=compute.memory_bytes or s.default_memory_bytes,
            gpus=compute.gpus,
            time_limit_seconds=int(compute.time_limit_seconds or s.default_time_limit_seconds),
            pids_limit=int(compute.pids_limit or s.default_pids_limit),
            shm_bytes=int(compute.shm_bytes or s.default_shm_bytes),
            first_seq=request.first_seq or 1,
            task=request.task,
            instructions=request.instructions,
            env=dict(request.env),
        )

    def _validator(self, competition_id: str, run_id: str):  # type: ignore[no-untyped-def]
        async def validate(content: bytes) -> ValidationAnswer:
            answer = await self._grader.ValidateSubmission(
                grader_pb2.ValidateSubmissionRequest(competition_id=competition_id, content=content, run_id=run_id),
                timeout=120,
            )
            return ValidationAnswer(valid=answer.valid, message=answer.message)

        return validate

    @grpc_errors
    async def ExecuteRun(
        self, request: runner_pb2.ExecuteRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.RunEventBatch]:
        run = self._resolve(request)
        if run.run_id in self.active:
            raise RunAlreadyActiveError(f"run {run.run_id} is already executing on this runner")
        execution = RunExecution(
            run,
            backend=self.backend,
            store=self.store,
            validate=self._validator(run.competition_id, run.run_id),
            work_root=self.settings.work_root,
            runner_id=self.settings.runner_id,
        )
        self.active[run.run_id] = execution
        execution.start()
        try:
            async for batch in execution.sequencer.batches():
                yield common_pb2.RunEventBatch(events=batch)
        finally:
            # The caller went away (or the stream failed): nobody would see this run, so end it.
            if not execution.done:
                await execution.cancel("the gateway stopped following the run")
            await execution.wait()
            self.active.pop(run.run_id, None)

    @grpc_errors
    async def AttachRun(
        self, request: runner_pb2.AttachRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.RunEventBatch]:
        if request.run_id in self.active:
            raise RunAlreadyActiveError(f"run {request.run_id} is being streamed to another caller")
        # Not executing here (the runner restarted and removed its containers on shutdown): lost.
        event = common_pb2.RunEvent(
            run_id=request.run_id,
            seq=request.from_seq + 1,
            status_change=common_pb2.StatusChange(
                state=common_pb2.RunState.RUN_STATE_LOST,
                reason=common_pb2.FailureReason.FAILURE_REASON_RUNNER_LOST,
                message="the runner has no container for this run",
            ),
        )
        yield common_pb2.RunEventBatch(events=[event])

    @grpc_errors
    async def CancelRun(
        self, request: runner_pb2.RunnerCancelRunRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.RunnerCancelRunResponse:
        execution = self.active.get(request.run_id)
        if execution is None:
            return runner_pb2.RunnerCancelRunResponse(found=False)
        await execution.cancel(request.reason or "cancelled by the user")
        return runner_pb2.RunnerCancelRunResponse(found=True)

    @grpc_errors
    async def GetCapacity(
        self, request: runner_pb2.GetCapacityRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.Capacity:
        s = self.settings
        runs = [e.request for e in self.active.values()]
        return runner_pb2.Capacity(
            cpus_total=s.cpus_total,
            cpus_used=sum(r.cpus for r in runs),
            memory_bytes_total=s.memory_bytes_total,
            memory_bytes_used=sum(r.memory_bytes for r in runs),
            gpus_total=s.gpus_total,
            gpus_used=sum(r.gpus for r in runs),
            running=len(runs),
            max_concurrent=s.max_concurrent,
        )

    async def shutdown(self) -> None:
        """SIGTERM: cancel every run; each removes its container before its stream ends."""
        executions = list(self.active.values())
        await asyncio.gather(*(e.cancel("the runner is shutting down") for e in executions))
        await asyncio.gather(*(e.wait() for e in executions))
        await self.backend.close()
        await self._grader_channel.close(None)


def hosted_runner(settings: RunnerSettings) -> Hosted:
    store = open_store(settings.store_url)
    store.check()
    settings.work_root.mkdir(parents=True, exist_ok=True)
    servicer = RunnerServicer(settings, DockerBackend(), store)
    return Hosted(
        register=lambda server: runner_pb2_grpc.add_RunnerServiceServicer_to_server(servicer, server),
        service_names=[runner_pb2.DESCRIPTOR.services_by_name["RunnerService"].full_name],
        on_shutdown=servicer.shutdown,
    )
