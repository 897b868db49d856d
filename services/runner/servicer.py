"""The runner's gRPC servicer: translates RPCs to the `RunSupervisor`, which owns every run."""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from mleredux import proto_json
from mleredux.errors import InvalidArgumentError, MleReduxError, StoreError
from mleredux.models.endpoints import Endpoints, load_endpoints
from mleredux.names import check_image_reference, check_run_id
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import common_pb2, grader_pb2, grader_pb2_grpc, runner_pb2, runner_pb2_grpc
from services.cpu_priority import hand_over_gil_sooner
from services.runner.agent_builder import AgentBuilder, AgentBuildSettings
from services.runner.backends.base import ContainerBackend
from services.runner.backends.docker import DEFAULT_CALL_TIMEOUT_SECONDS, DockerBackend
from services.runner.capacity import Budget
from services.runner.limits import Ceilings, RunLimits, check_ceilings, check_env
from services.runner.model_access import ModelAccess, models_field, reap_relays
from services.runner.model_proxy import ProxySettings
from services.runner.profile import effective_profile
from services.runner.run_request import RunRequest
from services.runner.supervisor import RunAlreadyActiveError, RunSupervisor, SupervisorSettings
from services.runner.validation_socket import (
    SocketLimits,
    ValidationAnswer,
    ValidationUnavailableError,
    Validator,
)
from services.runner.wire import add_runner_service, encode_batch
from services.server import CHANNEL_OPTIONS, DEFAULT_MAX_REQUEST_BYTES, Hosted
from services.status import grpc_errors

__all__ = ["RunAlreadyActiveError", "RunnerServicer", "RunnerSettings", "hosted_runner"]


def host_memory_bytes() -> int:
    """Physical memory of this host."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def default_container_starts_per_second() -> float:
    """MLEREDUX_RUNNER_CONTAINER_STARTS_PER_SECOND, else 2 per CPU: on the 2-core development machine,
    4/s kept a printed line's p99 latency at 31 ms while 300 tiny runs drained, against 78 ms unpaced
    and 53 ms at 6/s (benchmarks/gateway.py, docs/limits.md)."""
    configured = os.environ.get("MLEREDUX_RUNNER_CONTAINER_STARTS_PER_SECOND")
    if configured:
        return float(configured)
    return 2.0 * (os.cpu_count() or 1)


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
    #: The GPUs' model for reports, when the host's nvidia-smi cannot tell (empty: ask it).
    gpu_model: str = ""
    store_wait_seconds: float = 600.0
    #: The largest gRPC request accepted (ExecuteRun carries no upload); checked before parsing.
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    detach_grace_seconds: float = 600.0
    #: Per-run bounds on output, rollout, files and disk.
    limits: RunLimits = field(default_factory=RunLimits.from_environment)
    #: The most a request may ask for (cpus, memory, time, pids, shm, disk).
    ceilings: Ceilings = field(default_factory=Ceilings.from_environment)
    #: What each run's validation socket may cost (connections, timeouts, body size, call rate).
    validation: SocketLimits = field(default_factory=SocketLimits)
    #: How long one Docker Engine API call may take.
    docker_timeout_seconds: float = DEFAULT_CALL_TIMEOUT_SECONDS
    #: How long the grader may take to check one validation.
    validation_grader_timeout_seconds: float = 120.0
    #: How long a finished run is kept for a gateway that never released it (it may have died).
    finished_retention_seconds: float = 6 * 3600.0
    #: Seconds one agent build (clone included) may take.
    agent_build_timeout_seconds: float = 900.0
    #: Allow file:// git URLs for agent builds (one machine: `mleredux up`, tests).
    allow_file_git: bool = False

    #: Container starts per second across all runs (0: unpaced), and how many may go back to back:
    #: the engine's CPU per start is outside every run's budget (services/runner/start_pacing.py).
    container_starts_per_second: float = field(default_factory=default_container_starts_per_second)
    container_start_burst: int = 2

    #: The operator's model endpoints file (TOML, see docs/models.md); None: no model access.
    models_file: Path | None = None
    model_proxy: ProxySettings = field(default_factory=ProxySettings)

    @property
    def default_profile(self) -> common_pb2.ComputeProfile:
        """What a run gets for each limit it leaves at 0."""
        return common_pb2.ComputeProfile(
            cpus=self.default_cpus,
            memory_bytes=self.default_memory_bytes,
            time_limit_seconds=self.default_time_limit_seconds,
            pids_limit=self.default_pids_limit,
            shm_bytes=self.default_shm_bytes,
            disk_bytes=self.limits.default_disk_bytes,
            gpu_model=self.gpu_model,
        )

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
            limits=self.limits,
            finished_retention_seconds=self.finished_retention_seconds,
            container_starts_per_second=self.container_starts_per_second,
            container_start_burst=self.container_start_burst,
        )


class RunnerServicer(runner_pb2_grpc.RunnerServiceServicer):
    """gRPC in front of a `RunSupervisor`."""

    def __init__(self, settings: RunnerSettings, backend: ContainerBackend, store: ArtifactStore) -> None:
        self.settings = settings
        self._grader_channel = grpc.aio.insecure_channel(settings.grader_address, options=CHANNEL_OPTIONS)
        self._grader = grader_pb2_grpc.GraderServiceStub(self._grader_channel)
        self.supervisor = RunSupervisor(settings.supervisor_settings(), backend, store, self._validator)
        if settings.models_file is not None:
            # Loaded (keys read) at startup: a missing key fails here, never in a run.
            endpoints: Endpoints = load_endpoints(settings.models_file)
            self.supervisor.host.models = ModelAccess(endpoints, store, settings.model_proxy)
        self.agent_builder = AgentBuilder(
            AgentBuildSettings(
                settings.work_root / "agent-builds",
                timeout_seconds=settings.agent_build_timeout_seconds,
                allow_file_git=settings.allow_file_git,
            ),
            store,
        )
        # The server answers before recovery is done; an attach must not be told LOST meanwhile.
        self._recovered = asyncio.Event()

    def _resolve(self, request: runner_pb2.ExecuteRunRequest) -> RunRequest:
        for name in ("run_id", "image", "competition_id"):
            if not getattr(request, name):
                raise InvalidArgumentError(f"{name} is required")
        check_run_id(request.run_id)  # it names a work dir and a container
        check_image_reference(request.image)
        s = self.settings
        compute = effective_profile(request.compute, s.default_profile)
        resolved = {
            "cpus": compute.cpus,
            "memory_bytes": compute.memory_bytes,
            "gpus": compute.gpus,
            "time_limit_seconds": compute.time_limit_seconds,
            "pids_limit": compute.pids_limit,
            "shm_bytes": compute.shm_bytes,
            "disk_bytes": compute.disk_bytes,
        }
        check_ceilings(resolved, s.ceilings)
        check_env(request.env, s.ceilings)
        if len(request.instructions.encode()) > s.ceilings.instructions_bytes:
            raise InvalidArgumentError(
                f"instructions are above this runner's ceiling of {s.ceilings.instructions_bytes} bytes "
                "(RunnerSettings.ceilings.instructions_bytes)"
            )
        return RunRequest(
            run_id=request.run_id,
            image=request.image,
            competition_id=request.competition_id,
            public_dir=Path(request.dataset.local_public_dir) if request.dataset.local_public_dir else None,
            store_prefix=request.dataset.store_prefix,
            cpus=compute.cpus,
            memory_bytes=compute.memory_bytes,
            gpus=compute.gpus,
            time_limit_seconds=compute.time_limit_seconds,
            pids_limit=compute.pids_limit,
            shm_bytes=compute.shm_bytes,
            disk_bytes=compute.disk_bytes,
            profile=proto_json.to_json(compute),
            first_seq=request.first_seq or 1,
            task=request.task,
            instructions=request.instructions,
            env=dict(request.env),
            models=self._models_field(request),
            command=list(request.command),
            agent_args_json=request.agent_args_json,
        )

    def _models_field(self, request: runner_pb2.ExecuteRunRequest) -> dict[str, object]:
        models = models_field(request.model_access)
        if models:
            if self.supervisor.host.models is None:
                raise InvalidArgumentError("this runner has no model endpoints (it was started without --models)")
            self.supervisor.host.models.check(models)
        return models

    def _validator(self, run: RunRequest) -> Validator:
        return GraderValidator(
            self._grader, run, self.settings.validation, timeout=self.settings.validation_grader_timeout_seconds
        )

    @grpc_errors
    async def ExecuteRun(
        self, request: runner_pb2.ExecuteRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runner_pb2.ExecuteRunResponse]:
        run = self._resolve(request)
        await self._recovered.wait()
        execution = self.supervisor.execute(run)
        async for batch in self.supervisor.follow(execution, run.first_seq - 1):
            yield encode_batch(batch)  # type: ignore[misc]  # an ExecuteRunResponse's encoding (wire.py)

    @grpc_errors
    async def BuildAgent(
        self, request: runner_pb2.BuildAgentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runner_pb2.BuildAgentResponse]:
        async for message in self.agent_builder.build(request):
            yield message

    @grpc_errors
    async def AttachRun(
        self, request: runner_pb2.AttachRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runner_pb2.AttachRunResponse]:
        if not request.run_id:
            raise InvalidArgumentError("run_id is required")
        await self._recovered.wait()
        execution = self.supervisor.find(request.run_id)
        if execution is None:
            lost = self.supervisor.lost_batch(
                request.run_id,
                request.after_seq,
                f"the runner has no record of run {request.run_id} (no container, no journal)",
            )
            yield runner_pb2.AttachRunResponse(events=lost.events)
            return
        async for batch in self.supervisor.follow(execution, request.after_seq):
            yield encode_batch(batch)  # type: ignore[misc]  # an AttachRunResponse's encoding (wire.py)

    @grpc_errors
    async def CancelRun(
        self, request: runner_pb2.RunnerServiceCancelRunRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.RunnerServiceCancelRunResponse:
        await self._recovered.wait()
        found = await self.supervisor.cancel(request.run_id, request.reason or "cancelled by the user")
        return runner_pb2.RunnerServiceCancelRunResponse(found=found)

    @grpc_errors
    async def ReleaseRun(
        self, request: runner_pb2.ReleaseRunRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.ReleaseRunResponse:
        await self._recovered.wait()
        return runner_pb2.ReleaseRunResponse(released=await self.supervisor.release(request.run_id))

    @grpc_errors
    async def GetCapacity(
        self, request: runner_pb2.GetCapacityRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.GetCapacityResponse:
        budget = self.supervisor.admission.budget
        used = self.supervisor.usage()
        return runner_pb2.GetCapacityResponse(
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


#: Bytes per message of ValidateSubmissionStream.
VALIDATION_CHUNK_BYTES = 1 << 20


class GraderValidator:
    """One run's validations, sent to the grader in 1 MiB chunks from the spooled body; the socket
    reads its limits here (`socket_limits`)."""

    def __init__(
        self, grader: grader_pb2_grpc.GraderServiceStub, run: RunRequest, limits: SocketLimits, *, timeout: float
    ) -> None:
        self._grader = grader
        self._run = run
        self.socket_limits = limits
        self._timeout = timeout

    async def _chunks(self, body: Path) -> AsyncIterator[grader_pb2.ValidateSubmissionStreamRequest]:
        run = self._run
        with body.open("rb") as source:
            data = await asyncio.to_thread(source.read, VALIDATION_CHUNK_BYTES)
            yield grader_pb2.ValidateSubmissionStreamRequest(
                competition_id=run.competition_id, run_id=run.run_id, task=run.task, content=data
            )
            while len(data) == VALIDATION_CHUNK_BYTES:  # a regular file reads short only at its end
                data = await asyncio.to_thread(source.read, VALIDATION_CHUNK_BYTES)
                if data:
                    yield grader_pb2.ValidateSubmissionStreamRequest(content=data)

    async def __call__(self, body: Path) -> ValidationAnswer:
        try:
            answer = await self._grader.ValidateSubmissionStream(self._chunks(body), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise ValidationUnavailableError(grader_failure(exc)) from None
        return ValidationAnswer(valid=answer.valid, message=answer.message)


def grader_failure(exc: grpc.aio.AioRpcError) -> str:
    """A short reason for the agent: the grader's own message for what it refused, never gRPC's
    debug string (addresses, file names, stack positions)."""
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:  # what the grader refused, in its own words
        details = (exc.details() or "").splitlines()
        return details[0][:300] if details and details[0] else "the grader refused this file"
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
        # e.g. the competition is not prepared on the grader's host: its paths are none of the agent's business.
        return "the grader cannot check files for this competition right now"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "the grader took too long to check this file; try again later"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return "the file is too large for the grader"
    if code == grpc.StatusCode.UNAVAILABLE:
        return "the grader is not reachable right now; try again later"
    return "the grader could not check this file; try again later"


def raise_open_file_limit() -> tuple[int, int]:
    """Raises this process's soft RLIMIT_NOFILE to its hard limit (runs' sockets and Docker streams
    need descriptors; the default soft limit is often 1024); returns (soft, hard) as they now are."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            print(f"warning: cannot raise the open file limit from {soft} to {hard}: {exc}", file=sys.stderr)
    return soft, hard


def hosted_runner(settings: RunnerSettings) -> Hosted:
    raise_open_file_limit()
    hand_over_gil_sooner()
    store = open_store(settings.store_url)
    try:
        store.check()
    except StoreError as exc:
        # Runs can still execute; their files wait on this host until the store answers.
        print(f"warning: {exc}; run files will be kept here until the store is back", file=sys.stderr, flush=True)
    settings.work_root.mkdir(parents=True, exist_ok=True)
    backend = DockerBackend(settings.docker_timeout_seconds)
    servicer = RunnerServicer(settings, backend, store)

    async def docker_answers() -> str | None:
        try:
            await backend.find({"mleredux.health-probe": "1"})  # a cheap list call to the engine
        except MleReduxError as exc:
            return f"the Docker engine does not answer: {exc}"
        return None

    return Hosted(
        register=lambda server: add_runner_service(servicer, server),
        service_names=[runner_pb2.DESCRIPTOR.services_by_name["RunnerService"].full_name],
        on_start=servicer.start,
        on_shutdown=servicer.shutdown,
        max_request_bytes=settings.max_request_bytes,
        # The store is not among them: runs go on while it is down, their files wait on this host.
        dependency_checks=[("docker", docker_answers)],
        on_stopped=[servicer.agent_builder.scratch.release],
    )
