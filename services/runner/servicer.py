"""The runner's gRPC servicer: translates RPCs to the `RunSupervisor`, which owns every run."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from mleredux.errors import InvalidArgumentError, StoreError
from mleredux.models.endpoints import Endpoints, load_endpoints
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import common_pb2, grader_pb2, grader_pb2_grpc, runner_pb2, runner_pb2_grpc
from services.runner.backends.base import ContainerBackend
from services.runner.backends.docker import DockerBackend
from services.runner.capacity import Budget
from services.runner.execution import RunRequest
from services.runner.model_access import ModelAccess, models_field, reap_relays
from services.runner.model_proxy import ProxySettings
from services.runner.supervisor import RunAlreadyActiveError, RunSupervisor, SupervisorSettings
from services.runner.validation_socket import ValidationAnswer, Validator
from services.server import SERVER_OPTIONS, Hosted
from services.status import grpc_errors

__all__ = ["RunAlreadyActiveError", "RunnerServicer", "RunnerSettings", "hosted_runner"]


def host_memory_bytes() -> int:
    """Physical memory of this host."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@dataclass(frozen=True)
class RunnerSettings:
    """The runner's configuration, its budget, and the defaults for limits a run leaves unset."""

    work_root: Path
    store_url: str
    grader_address: str
    cpus_total: float = field(default_factory=lambda: float(os.cpu_count() or 1))
    memory_bytes_total: int = field(default_factory=host_memory_bytes)
    gpus_total: int = 0
    max_concurrent: int = 4
    default_cpus: float = 1.0
    default_memory_bytes: int = 2 << 30
    default_time_limit_seconds: int = 3600
    default_pids_limit: int = 512
    default_shm_bytes: int = 64 << 20
    store_wait_seconds: float = 600.0
    detach_grace_seconds: float = 600.0
    #: The operator's model endpoints file (TOML, see docs/models.md); None: no model access.
    models_file: Path | None = None
    model_proxy: ProxySettings = field(default_factory=ProxySettings)

    @property
    def runner_id(self) -> str:
        """Stable per work dir, so a restarted runner recognises its own containers by label."""
        return hashlib.sha256(str(self.work_root.resolve()).encode()).hexdigest()[:12]

    def supervisor_settings(self) -> SupervisorSettings:
        return SupervisorSettings(
            work_root=self.work_root,
            runner_id=self.runner_id,
            budget=Budget(
                cpus=self.cpus_total,
                memory_bytes=self.memory_bytes_total,
                gpus=self.gpus_total,
                max_concurrent=self.max_concurrent,
            ),
            store_wait_seconds=self.store_wait_seconds,
            detach_grace_seconds=self.detach_grace_seconds,
        )


class RunnerServicer(runner_pb2_grpc.RunnerServiceServicer):
    """gRPC in front of a `RunSupervisor`."""

    def __init__(self, settings: RunnerSettings, backend: ContainerBackend, store: ArtifactStore) -> None:
        self.settings = settings
        self._grader_channel = grpc.aio.insecure_channel(settings.grader_address, options=SERVER_OPTIONS)
        self._grader = grader_pb2_grpc.GraderServiceStub(self._grader_channel)
        self.supervisor = RunSupervisor(settings.supervisor_settings(), backend, store, self._validator)
        if settings.models_file is not None:
            # Loaded (keys read) at startup: a missing key fails here, never in a run.
            endpoints: Endpoints = load_endpoints(settings.models_file)
            self.supervisor.host.models = ModelAccess(endpoints, store, settings.model_proxy)
        # The server answers before recovery is done; an attach must not be told LOST meanwhile.
        self._recovered = asyncio.Event()

    def _resolve(self, request: runner_pb2.ExecuteRunRequest) -> RunRequest:
        for name in ("run_id", "image", "competition_id"):
            if not getattr(request, name):
                raise InvalidArgumentError(f"{name} is required")
        if "/" in request.run_id or request.run_id in (".", ".."):
            raise InvalidArgumentError(f"run_id {request.run_id!r} must not contain '/'")
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
            models=self._models_field(request),
        )

    def _models_field(self, request: runner_pb2.ExecuteRunRequest) -> dict[str, object]:
        models = models_field(request.model_access)
        if models:
            if self.supervisor.host.models is None:
                raise InvalidArgumentError("this runner has no model endpoints (it was started without --models)")
            self.supervisor.host.models.check(models)
        return models

    def _validator(self, run: RunRequest) -> Validator:
        async def validate(content: bytes) -> ValidationAnswer:
            answer = await self._grader.ValidateSubmission(
                grader_pb2.ValidateSubmissionRequest(
                    competition_id=run.competition_id, content=content, run_id=run.run_id, task=run.task
                ),
                timeout=120,
            )
            return ValidationAnswer(valid=answer.valid, message=answer.message)

        return validate

    @grpc_errors
    async def ExecuteRun(
        self, request: runner_pb2.ExecuteRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.RunEventBatch]:
        run = self._resolve(request)
        await self._recovered.wait()
        execution = self.supervisor.execute(run)
        async for batch in self.supervisor.follow(execution, run.first_seq - 1):
            yield batch

    @grpc_errors
    async def AttachRun(
        self, request: runner_pb2.AttachRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.RunEventBatch]:
        if not request.run_id:
            raise InvalidArgumentError("run_id is required")
        await self._recovered.wait()
        execution = self.supervisor.active.get(request.run_id)
        if execution is None:
            yield self.supervisor.lost_batch(
                request.run_id,
                request.from_seq,
                f"the runner has no record of run {request.run_id} (no container, no journal)",
            )
            return
        async for batch in self.supervisor.follow(execution, request.from_seq):
            yield batch

    @grpc_errors
    async def CancelRun(
        self, request: runner_pb2.RunnerCancelRunRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.RunnerCancelRunResponse:
        await self._recovered.wait()
        found = await self.supervisor.cancel(request.run_id, request.reason or "cancelled by the user")
        return runner_pb2.RunnerCancelRunResponse(found=found)

    @grpc_errors
    async def GetCapacity(
        self, request: runner_pb2.GetCapacityRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.Capacity:
        budget = self.supervisor.admission.budget
        used = self.supervisor.usage()
        return runner_pb2.Capacity(
            cpus_total=budget.cpus,
            cpus_used=used.cpus,
            memory_bytes_total=budget.memory_bytes,
            memory_bytes_used=used.memory_bytes,
            gpus_total=budget.gpus,
            gpus_used=used.gpus,
            running=used.running,
            max_concurrent=budget.max_concurrent,
        )

    async def start(self) -> None:
        await self.supervisor.start()
        if self.supervisor.host.models is not None:
            await reap_relays(self.supervisor.backend, self.settings.runner_id, set(self.supervisor.active))
        self._recovered.set()

    async def shutdown(self) -> None:
        """SIGTERM: cancel every run; each removes its container before its stream ends."""
        await self.supervisor.shutdown()
        await self.supervisor.backend.close()
        await self._grader_channel.close(None)


def hosted_runner(settings: RunnerSettings) -> Hosted:
    store = open_store(settings.store_url)
    try:
        store.check()
    except StoreError as exc:
        # Runs can still execute; their files wait on this host until the store answers.
        print(f"warning: {exc}; run files will be kept here until the store is back", file=sys.stderr, flush=True)
    settings.work_root.mkdir(parents=True, exist_ok=True)
    servicer = RunnerServicer(settings, DockerBackend(), store)
    return Hosted(
        register=lambda server: runner_pb2_grpc.add_RunnerServiceServicer_to_server(servicer, server),
        service_names=[runner_pb2.DESCRIPTOR.services_by_name["RunnerService"].full_name],
        on_start=servicer.start,
        on_shutdown=servicer.shutdown,
    )
