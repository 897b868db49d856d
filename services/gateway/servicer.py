"""The gateway's gRPC servicer: the public API over run state, the orchestrator and the other services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from mleredux.errors import ArtifactNotFoundError, InvalidArgumentError
from mleredux.images import resolve_agent_image
from mleredux.store import ArtifactStore, check_key, open_store
from mleredux.v1 import (
    common_pb2,
    competitions_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    grader_pb2_grpc,
    preparer_pb2,
    preparer_pb2_grpc,
    runner_pb2_grpc,
)
from services.gateway.orchestration import EventHub, RunOrchestrator
from services.gateway.state import RunDatabase, is_terminal
from services.runner.capture import now_timestamp
from services.server import SERVER_OPTIONS, Hosted
from services.status import grpc_errors

#: How long a watcher sleeps between checks when nothing wakes it (a safety net, not the mechanism).
WATCH_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway keeps state and where the other services are."""

    db_path: Path
    store_url: str
    preparer_address: str
    runner_address: str
    grader_address: str
    max_concurrent_runs: int = 4


async def _forward_error(context: grpc.aio.ServicerContext, exc: grpc.aio.AioRpcError) -> None:
    """A pass-through answers with the upstream service's own status and message."""
    await context.abort(exc.code(), exc.details() or exc.code().name)


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, settings: GatewaySettings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        self.db = RunDatabase(settings.db_path)
        self.hub = EventHub()
        self._channels = [
            grpc.aio.insecure_channel(address, options=SERVER_OPTIONS)
            for address in (settings.preparer_address, settings.runner_address, settings.grader_address)
        ]
        self.preparer = preparer_pb2_grpc.PreparerServiceStub(self._channels[0])
        self.orchestrator = RunOrchestrator(
            self.db,
            self.hub,
            store,
            preparer=self.preparer,
            runner=runner_pb2_grpc.RunnerServiceStub(self._channels[1]),
            grader=grader_pb2_grpc.GraderServiceStub(self._channels[2]),
            max_concurrent=settings.max_concurrent_runs,
        )

    # -- runs --------------------------------------------------------------------------------------

    @grpc_errors
    async def CreateRun(
        self, request: gateway_pb2.CreateRunRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.Run:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        if not request.agent:
            raise InvalidArgumentError("agent is required (e.g. dummy, or an image reference NAME:TAG)")
        compute = request.compute
        for field in ("cpus", "memory_bytes", "gpus", "time_limit_seconds", "pids_limit", "shm_bytes"):
            if getattr(compute, field) < 0:
                raise InvalidArgumentError(f"compute.{field} must not be negative")
        # An unknown competition fails here, not minutes later in the queue.
        try:
            await self.preparer.GetCompetition(
                preparer_pb2.GetCompetitionRequest(competition_id=request.competition_id), timeout=30
            )
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)
        run = gateway_pb2.Run(
            run_id=uuid.uuid4().hex[:16],
            competition_id=request.competition_id,
            agent=request.agent,
            image=resolve_agent_image(request.agent),
            task=request.task,
            state=common_pb2.RunState.RUN_STATE_QUEUED,
            compute=compute,
            env=dict(request.env),
            create_time=now_timestamp(),
            owner="local",
        )
        self.orchestrator.submit(run)
        return self.db.get_run(run.run_id)

    @grpc_errors
    async def GetRun(self, request: gateway_pb2.GetRunRequest, context: grpc.aio.ServicerContext) -> gateway_pb2.Run:
        return self.db.get_run(request.run_id)

    @grpc_errors
    async def ListRuns(
        self, request: gateway_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListRunsResponse:
        runs, token = self.db.list_runs(
            page_size=request.page_size,
            page_token=request.page_token,
            state=request.state,
            competition_id=request.competition_id,
        )
        return gateway_pb2.ListRunsResponse(runs=runs, next_page_token=token)

    @grpc_errors
    async def CancelRun(
        self, request: gateway_pb2.CancelRunRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.Run:
        return await self.orchestrator.cancel(request.run_id)

    @grpc_errors
    async def WatchRun(
        self, request: gateway_pb2.WatchRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.RunEventBatch]:
        if request.from_seq < 0:
            raise InvalidArgumentError("from_seq must not be negative")
        run = self.db.get_run(request.run_id)
        next_seq = max(request.from_seq, 1)
        while True:
            # Read from storage every time: a watcher that falls behind catches up from SQLite and
            # never holds an in-memory buffer, so it cannot slow the run or other watchers.
            events = self.db.events_from(run.run_id, next_seq)
            if events:
                next_seq = events[-1].seq + 1
                yield common_pb2.RunEventBatch(events=events)
                continue
            run = self.db.get_run(run.run_id)
            if request.no_follow or (is_terminal(run.state) and run.last_seq < next_seq):
                return
            await self.hub.wait(run.run_id, WATCH_POLL_SECONDS)

    # -- artifacts ---------------------------------------------------------------------------------

    @grpc_errors
    async def ListArtifacts(
        self, request: gateway_pb2.ListArtifactsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListArtifactsResponse:
        run = self.db.get_run(request.run_id)
        prefix = f"runs/{run.run_id}/"
        objects = await asyncio.to_thread(self.store.list, prefix)
        return gateway_pb2.ListArtifactsResponse(
            artifacts=[
                gateway_pb2.Artifact(name=o.key[len(prefix) :], key=o.key, size_bytes=o.size_bytes) for o in objects
            ]
        )

    @grpc_errors
    async def GetArtifact(
        self, request: gateway_pb2.GetArtifactRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.ArtifactChunk]:
        run = self.db.get_run(request.run_id)
        if not request.name:
            raise InvalidArgumentError("name is required (see ListArtifacts)")
        key = check_key(f"runs/{run.run_id}/{request.name}")
        if not await asyncio.to_thread(self.store.exists, key):
            raise ArtifactNotFoundError(f"run {run.run_id} has no artifact {request.name!r}")
        chunks = self.store.iter_chunks(key)
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            yield gateway_pb2.ArtifactChunk(data=chunk)

    # -- pass-throughs to the preparer ---------------------------------------------------------------

    async def ListCompetitions(
        self, request: preparer_pb2.ListCompetitionsRequest, context: grpc.aio.ServicerContext
    ) -> preparer_pb2.ListCompetitionsResponse:
        try:
            return await self.preparer.ListCompetitions(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)
            raise

    async def GetCompetition(
        self, request: preparer_pb2.GetCompetitionRequest, context: grpc.aio.ServicerContext
    ) -> competitions_pb2.Competition:
        try:
            return await self.preparer.GetCompetition(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)
            raise

    async def PrepareCompetition(
        self, request: preparer_pb2.PrepareCompetitionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[preparer_pb2.PrepareCompetitionResponse]:
        try:
            async for progress in self.preparer.PrepareCompetition(request):
                yield progress
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)

    async def start(self) -> None:
        await self.orchestrator.recover()

    async def shutdown(self) -> None:
        await self.orchestrator.shutdown()
        for channel in self._channels:
            await channel.close(None)
        self.db.close()


def hosted_gateway(settings: GatewaySettings) -> Hosted:
    store = open_store(settings.store_url)
    store.check()
    servicer = GatewayServicer(settings, store)
    return Hosted(
        register=lambda server: gateway_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server),
        service_names=[gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name],
        on_start=servicer.start,
        on_shutdown=servicer.shutdown,
    )
