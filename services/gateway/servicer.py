"""The gateway's gRPC servicer: the public API over run state, the orchestrator and the other services."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from mleredux.ceilings import COMPUTE_FIELDS, Ceilings, check_requested
from mleredux.errors import (
    ArtifactNotFoundError,
    InvalidArgumentError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RunNotFoundError,
)
from mleredux.names import check_agent
from mleredux.store import ArtifactStore, check_key, open_store
from mleredux.timestamps import now_timestamp
from mleredux.v1 import (
    common_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    grader_pb2_grpc,
    preparer_pb2,
    preparer_pb2_grpc,
)
from services.cpu_priority import hand_over_gil_sooner
from services.encoded_responses import add_with_encoded_responses
from services.gateway.agents import SMOKE_COMPETITION, AgentRegistry, AgentSettings, agent_run
from services.gateway.auth import Principal, TokenStore, bearer_token
from services.gateway.chores import ChoreProcess
from services.gateway.evaluation_state import EvaluationDatabase
from services.gateway.evaluations import EvaluationLimits, EvaluationService
from services.gateway.known_competitions import KnownCompetitions
from services.gateway.metrics import register_gateway_metrics
from services.gateway.model_quota import ModelQuota, within_quota
from services.gateway.orchestration import EventHub, RunOrchestrator
from services.gateway.quotas import UserQuota, UserQuotas
from services.gateway.reads import OffLoopReads
from services.gateway.retention import RetentionPolicy, StorageKeeper
from services.gateway.run_watch import WATCH_POLL_SECONDS, WatchInterrupted, watch_responses
from services.gateway.runner_stub import runner_stub
from services.gateway.state import RunDatabase, is_terminal
from services.operations import grpc_health_check, store_check
from services.server import CHANNEL_OPTIONS, DEFAULT_MAX_REQUEST_BYTES, Hosted
from services.status import grpc_errors
from technique_tasks.base import get_task

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway keeps state and where the other services are."""

    db_path: Path
    store_url: str
    preparer_address: str
    #: One or more runners (each its own Docker host), comma-separated: "host1:port,host2:port".
    runner_address: str
    grader_address: str
    max_concurrent_runs: int = 4
    #: Runs one user may have on the runners at once (more wait in the queue); 0 for no limit.
    per_user_limit: int = 0
    #: Where a fresh gateway (no token yet) writes its first admin token; default beside the database.
    admin_token_file: Path | None = None
    #: HOST:PORT of the HTTP/JSON API and run viewer (port 0 picks one); None serves gRPC only.
    http_listen: str | None = None
    #: The largest gRPC request accepted (CreateAgent's upload comes in chunks under it); checked before auth.
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    #: Retention of finished runs (docs/operations.md): by age, count and database bytes; 0 keeps all.
    retention: RetentionPolicy = dataclasses.field(default_factory=RetentionPolicy)
    #: How often the retention policy is applied.
    retention_interval_seconds: float = 300.0
    #: Model tokens / USD one user's runs may use per rolling 24 hours (0: no cap).
    model_quota: ModelQuota = dataclasses.field(default_factory=ModelQuota)
    #: What one evaluation may ask for (seeds, runs, concurrency, attempts).
    evaluation_limits: EvaluationLimits = dataclasses.field(default_factory=EvaluationLimits)
    #: The most a run may ask for (compute, env): above it CreateRun answers INVALID_ARGUMENT at once,
    #: with the runner's own defaults (the runners refuse the same again at ExecuteRun).
    ceilings: Ceilings = dataclasses.field(default_factory=Ceilings)
    #: Runs one user may have unfinished (queued, preparing, running, grading) at once; past it CreateRun
    #: answers RESOURCE_EXHAUSTED, so one user cannot fill the queue and the database. 0 for no limit.
    max_unfinished_runs_per_user: int = 100
    #: Requests per second and open event streams per user (services/gateway/quotas.py).
    user_quota: UserQuota = dataclasses.field(default_factory=UserQuota)
    #: Agents one user may have (building or ready).
    agent_quota_count: int = 20
    #: Image bytes one user's agents may take together.
    agent_quota_bytes: int = 10 << 30
    #: The largest agent build context (tar) accepted.
    agent_context_max_bytes: int = 100 << 20


async def _forward_error(context: grpc.aio.ServicerContext, exc: grpc.aio.AioRpcError) -> None:
    """A pass-through answers with the upstream service's own status and message."""
    await context.abort(exc.code(), exc.details() or exc.code().name)


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, settings: GatewaySettings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        # The event loop's connection: its reads and few writes are short; it never checkpoints.
        self.db = RunDatabase(settings.db_path, checkpoints=False)
        self.reads = OffLoopReads(settings.db_path)
        self.tokens = TokenStore(settings.db_path)
        self.hub = EventHub()
        self.quotas = UserQuotas(settings.user_quota)
        #: Set first thing on shutdown: watchers must stop before the database closes under them.
        self._closing = False
        runner_addresses = [a.strip() for a in settings.runner_address.split(",") if a.strip()]
        if not runner_addresses:
            raise InvalidArgumentError("the gateway needs at least one runner address")
        self._channels = [
            grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            for address in (settings.preparer_address, settings.grader_address, *runner_addresses)
        ]
        self.preparer = preparer_pb2_grpc.PreparerServiceStub(self._channels[0])
        self.known_competitions = KnownCompetitions()
        #: The process where finished runs' files are written and their events compacted.
        self.chores = ChoreProcess()
        self.orchestrator = RunOrchestrator(
            self.db,
            self.hub,
            store,
            chores=self.chores,
            store_url=settings.store_url,
            preparer=self.preparer,
            runners={
                address: runner_stub(channel)
                for address, channel in zip(runner_addresses, self._channels[2:], strict=True)
            },
            grader=grader_pb2_grpc.GraderServiceStub(self._channels[1]),
            max_concurrent=settings.max_concurrent_runs,
            per_user_limit=settings.per_user_limit,
        )
        # A connection of its own: compaction and pruning run in worker threads.
        self.keeper = StorageKeeper(
            RunDatabase(settings.db_path),
            store,
            settings.retention,
            interval_seconds=settings.retention_interval_seconds,
            chores=self.chores,
        )
        self.orchestrator.on_finished = self.keeper.run_finished
        self.evaluations = EvaluationService(
            EvaluationDatabase(settings.db_path),
            self.db,
            self.orchestrator,
            self.hub,
            self.preparer,
            store,
            settings.evaluation_limits,
            closing=lambda: self._closing,
            model_quota=settings.model_quota,
        )
        self.agents = AgentRegistry(
            settings.db_path,
            store,
            self.orchestrator.runners,
            AgentSettings(
                context_max_bytes=settings.agent_context_max_bytes,
                quota_count=settings.agent_quota_count,
                quota_bytes=settings.agent_quota_bytes,
            ),
        )
        self.evaluations.resolve_agent = self.agents.resolve
        self.agents.smoke_run = self._smoke_run

    def dependency_channels(self) -> list[tuple[str, grpc.aio.Channel]]:
        """The services the gateway needs, by name, with its channel to each."""
        names = ["preparer", "grader", *(f"runner {i + 1}" for i in range(len(self._channels) - 2))]
        return list(zip(names, self._channels, strict=True))

    # -- who is calling ----------------------------------------------------------------------------

    def _caller(self, context: grpc.aio.ServicerContext) -> Principal:
        caller = self.tokens.authenticate(bearer_token(context.invocation_metadata()))
        self.quotas.admit(caller)  # every authenticated RPC counts against its user's rate
        return caller

    def _run_for(self, caller: Principal, run_id: str) -> gateway_pb2.Run:
        """The run, if the caller may see it; another user's run is reported exactly as a missing one."""
        if not run_id:
            raise InvalidArgumentError("run_id is required")
        try:
            run = self.db.get_run(run_id)
        except RunNotFoundError:
            raise RunNotFoundError(f"no run {run_id!r}") from None
        if not caller.may_see(run.owner):
            raise RunNotFoundError(f"no run {run_id!r}")
        return run

    # -- runs --------------------------------------------------------------------------------------

    @grpc_errors
    async def CreateRun(
        self, request: gateway_pb2.CreateRunRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CreateRunResponse:
        caller = self._caller(context)
        run = await self._create_run(caller, request, context)
        return gateway_pb2.CreateRunResponse(run=run)

    async def _create_run(
        self,
        caller: Principal,
        request: gateway_pb2.CreateRunRequest,
        context: grpc.aio.ServicerContext | None,
    ) -> gateway_pb2.Run:
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        if not request.agent.startswith("users/"):
            check_agent(request.agent)  # before it can reach a Docker Engine API URL
        agent = self.agents.resolve(caller, request.agent)
        compute = request.compute
        # Before the run is stored: a request no runner would take never reaches the queue.
        check_requested(
            {name: getattr(compute, name) for name in COMPUTE_FIELDS},
            request.env,
            self.settings.ceilings,
            "GatewaySettings.ceilings",
        )
        for name, value in request.env.items():
            if not _ENV_NAME.match(name):
                raise InvalidArgumentError(f"env: {name!r} is not a variable name (letters, digits and _)")
            if "\0" in value:
                raise InvalidArgumentError(f"env.{name} must not contain a NUL character")
        if request.task:
            get_task(request.task)  # an unknown task fails here, listing the six
        self._check_unfinished_runs(caller)
        # An unknown competition fails here, not minutes later in the queue.
        if not self.known_competitions.known(request.competition_id):
            try:
                await self.preparer.GetCompetition(
                    preparer_pb2.PreparerServiceGetCompetitionRequest(competition_id=request.competition_id),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as exc:
                if context is None:
                    raise InvalidArgumentError(exc.details() or exc.code().name) from None
                await _forward_error(context, exc)
            self.known_competitions.confirmed(request.competition_id)
        # The agent's fields (image, digest, commit, manifest defaults) as an evaluation's runs get them.
        run = agent_run(agent, name=request.agent, compute=compute, env=request.env)
        run.MergeFrom(
            gateway_pb2.Run(
                run_id=uuid.uuid4().hex[:16],
                competition_id=request.competition_id,
                task=request.task,
                state=common_pb2.RunState.RUN_STATE_QUEUED,
                # No await between this check and `submit`: concurrent CreateRuns cannot share a remainder.
                model_access=within_quota(request.model_access, self.settings.model_quota, self.db, caller.user),
                create_time=now_timestamp(),
                owner=caller.user,
            )
        )
        return await self.orchestrator.submit(run)

    async def _smoke_run(self, owner: str, agent_id: str) -> tuple[bool, str]:
        """A run of the owner's agent on demo-digits, as the owner: (verified, why)."""
        principal = Principal(user=owner, admin=False, token_id="")
        request = gateway_pb2.CreateRunRequest(competition_id=SMOKE_COMPETITION, agent=agent_id)
        run = await self._create_run(principal, request, None)
        while not is_terminal(run.state):
            await self.hub.wait(run.run_id, WATCH_POLL_SECONDS)
            run = self.db.get_run(run.run_id)
        if run.state == common_pb2.RunState.RUN_STATE_SUCCEEDED:
            return True, f"smoke run {run.run_id} on {SMOKE_COMPETITION} made a valid submission"
        reason = common_pb2.FailureReason.Name(run.failure_reason).removeprefix("FAILURE_REASON_").lower()
        return False, f"smoke run {run.run_id} on {SMOKE_COMPETITION} ended {reason}: {run.message}"

    # -- agents ------------------------------------------------------------------------------------

    @grpc_errors
    async def CreateAgent(
        self, request_iterator: AsyncIterator[gateway_pb2.CreateAgentRequest], context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CreateAgentResponse:
        caller = self._caller(context)
        return gateway_pb2.CreateAgentResponse(agent=await self.agents.create(caller, request_iterator))

    @grpc_errors
    async def GetAgent(
        self, request: gateway_pb2.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetAgentResponse:
        return gateway_pb2.GetAgentResponse(agent=self.agents.find(self._caller(context), request.name))

    @grpc_errors
    async def ListAgents(
        self, request: gateway_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListAgentsResponse:
        agents, token = self.agents.list(self._caller(context), request.page_size, request.page_token)
        return gateway_pb2.ListAgentsResponse(agents=agents, next_page_token=token)

    @grpc_errors
    async def DeleteAgent(
        self, request: gateway_pb2.DeleteAgentRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.DeleteAgentResponse:
        return gateway_pb2.DeleteAgentResponse(agent=self.agents.delete(self._caller(context), request.name))

    @grpc_errors
    async def ShareAgent(
        self, request: gateway_pb2.ShareAgentRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ShareAgentResponse:
        caller = self._caller(context)
        return gateway_pb2.ShareAgentResponse(agent=self.agents.share(caller, request.name, request.shared))

    @grpc_errors
    async def WatchAgentBuild(
        self, request: gateway_pb2.WatchAgentBuildRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.WatchAgentBuildResponse]:
        caller = self._caller(context)
        stream = self.agents.watch(caller, request.name, request.from_seq)
        first = await anext(stream, None)  # a missing agent fails before the stream is opened
        await context.send_initial_metadata(())
        if first is None:
            return
        yield first
        async for message in stream:
            if self._closing:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down; watch again")
            yield message

    def _check_unfinished_runs(self, caller: Principal) -> None:
        limit = self.settings.max_unfinished_runs_per_user
        if limit <= 0:
            return
        held = self.orchestrator.unfinished_of(caller.user)
        if held >= limit:
            raise ResourceExhaustedError(
                f"{caller.user} already has {held} unfinished runs, the most one user may have "
                f"(GatewaySettings.max_unfinished_runs_per_user = {limit}); wait for one to end or cancel one"
            )

    @grpc_errors
    async def GetRun(
        self, request: gateway_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetRunResponse:
        return gateway_pb2.GetRunResponse(run=self._run_for(self._caller(context), request.run_id))

    @grpc_errors
    async def ListRuns(
        self, request: gateway_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListRunsResponse:
        caller = self._caller(context)
        runs, token = await self.reads.list_runs(
            page_size=request.page_size,
            page_token=request.page_token,
            state=request.state,
            competition_id=request.competition_id,
            owner=None if caller.admin else caller.user,
        )
        return gateway_pb2.ListRunsResponse(runs=runs, next_page_token=token)

    @grpc_errors
    async def CancelRun(
        self, request: gateway_pb2.CancelRunRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CancelRunResponse:
        run = self._run_for(self._caller(context), request.run_id)
        return gateway_pb2.CancelRunResponse(run=await self.orchestrator.cancel(run.run_id))

    @grpc_errors
    async def WatchRun(
        self, request: gateway_pb2.WatchRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.WatchRunResponse]:
        caller = self._caller(context)
        if request.from_seq < 0:
            raise InvalidArgumentError("from_seq must not be negative")
        run = self._run_for(caller, request.run_id)
        with self.quotas.watch_stream(caller):
            # Tells a client (the HTTP side) the request was accepted before any event exists.
            await context.send_initial_metadata(())
            responses = watch_responses(
                self.hub,
                self.reads,
                self.db,
                run,
                request.from_seq,
                no_follow=request.no_follow,
                closing=lambda: self._closing,
            )
            try:
                async with contextlib.aclosing(responses):  # a client gone mid-stream closes it here
                    async for response in responses:
                        yield response  # type: ignore[misc]  # an encoding is sent as it is
            except WatchInterrupted as stop:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(stop))

    # -- artifacts ---------------------------------------------------------------------------------

    @grpc_errors
    async def ListArtifacts(
        self, request: gateway_pb2.ListArtifactsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListArtifactsResponse:
        run = self._run_for(self._caller(context), request.run_id)
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
    ) -> AsyncIterator[gateway_pb2.GetArtifactResponse]:
        run = self._run_for(self._caller(context), request.run_id)
        if not request.name:
            raise InvalidArgumentError("name is required (see ListArtifacts)")
        try:
            key = check_key(f"runs/{run.run_id}/{request.name}")
        except InvalidArgumentError:
            raise InvalidArgumentError(f"name {request.name!r} is not a path inside the run (no '..')") from None
        if not await asyncio.to_thread(self.store.exists, key):
            raise ArtifactNotFoundError(f"run {run.run_id} has no artifact {request.name!r}")
        await context.send_initial_metadata(())
        chunks = self.store.iter_chunks(key)
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            yield gateway_pb2.GetArtifactResponse(data=chunk)

    # -- the registry and preparing (the preparer's answers, in the gateway's own messages) -------------

    @grpc_errors
    async def ListCompetitions(
        self, request: gateway_pb2.ListCompetitionsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListCompetitionsResponse:
        self._caller(context)
        try:
            answer = await self.preparer.ListCompetitions(
                preparer_pb2.PreparerServiceListCompetitionsRequest(
                    page_size=request.page_size, page_token=request.page_token, supported_only=request.supported_only
                ),
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)
            raise
        return gateway_pb2.ListCompetitionsResponse(
            competitions=answer.competitions, next_page_token=answer.next_page_token
        )

    @grpc_errors
    async def GetCompetition(
        self, request: gateway_pb2.GetCompetitionRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetCompetitionResponse:
        self._caller(context)
        try:
            answer = await self.preparer.GetCompetition(
                preparer_pb2.PreparerServiceGetCompetitionRequest(competition_id=request.competition_id), timeout=30
            )
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)
            raise
        return gateway_pb2.GetCompetitionResponse(competition=answer.competition)

    @grpc_errors
    async def PrepareCompetition(
        self, request: gateway_pb2.PrepareCompetitionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.PrepareCompetitionResponse]:
        self._caller(context)
        if not request.competition_id:
            raise InvalidArgumentError("competition_id is required")
        # Only what a user may choose reaches the preparer: never a raw path on its host.
        upstream = preparer_pb2.PreparerServicePrepareCompetitionRequest(
            competition_id=request.competition_id, task=request.task
        )
        try:
            async for progress in self.preparer.PrepareCompetition(upstream):
                yield gateway_pb2.PrepareCompetitionResponse(
                    stage=progress.stage,
                    message=progress.message,
                    files_done=progress.files_done,
                    files_total=progress.files_total,
                    bytes_done=progress.bytes_done,
                    bytes_total=progress.bytes_total,
                    reused=progress.reused,
                    content_hash=progress.dataset.content_hash,
                )
        except grpc.aio.AioRpcError as exc:
            await _forward_error(context, exc)

    # -- tokens ------------------------------------------------------------------------------------

    @grpc_errors
    async def CreateToken(
        self, request: gateway_pb2.CreateTokenRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CreateTokenResponse:
        caller = self._caller(context)
        token, record = self.tokens.create(request.user, request.name, admin=request.admin, caller=caller)
        return gateway_pb2.CreateTokenResponse(token=token, api_token=record)

    @grpc_errors
    async def ListTokens(
        self, request: gateway_pb2.ListTokensRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListTokensResponse:
        return gateway_pb2.ListTokensResponse(tokens=self.tokens.list(self._caller(context), request.user))

    @grpc_errors
    async def RevokeToken(
        self, request: gateway_pb2.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.RevokeTokenResponse:
        if not request.token_id:
            raise InvalidArgumentError("token_id is required")
        return gateway_pb2.RevokeTokenResponse(api_token=self.tokens.revoke(self._caller(context), request.token_id))

    @grpc_errors
    async def GetCaller(
        self, request: gateway_pb2.GetCallerRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetCallerResponse:
        caller = self._caller(context)
        return gateway_pb2.GetCallerResponse(user=caller.user, admin=caller.admin, token_id=caller.token_id)

    @grpc_errors
    async def PruneRuns(
        self, request: gateway_pb2.PruneRunsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.PruneRunsResponse:
        caller = self._caller(context)
        if not caller.admin:
            raise PermissionDeniedError("only an admin may prune runs")
        if request.older_than_seconds < 0 or request.keep_last < 0 or request.max_database_bytes < 0:
            raise InvalidArgumentError("older_than_seconds, keep_last and max_database_bytes must not be negative")
        policy = RetentionPolicy(
            max_age_seconds=float(request.older_than_seconds),
            max_runs=request.keep_last,
            max_database_bytes=request.max_database_bytes,
        )
        if not policy.active:
            raise InvalidArgumentError("say what to prune: older_than_seconds, keep_last or max_database_bytes")
        result = await self.keeper.prune(policy, dry_run=request.dry_run)
        return gateway_pb2.PruneRunsResponse(
            run_ids=result.run_ids,
            database_bytes=result.database_bytes,
            store_bytes=result.store_bytes,
            errors=result.errors,
        )

    # -- evaluations (the logic lives in services/gateway/evaluations.py) ---------------------------

    @grpc_errors
    async def CreateEvaluation(
        self, request: gateway_pb2.CreateEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CreateEvaluationResponse:
        return gateway_pb2.CreateEvaluationResponse(
            evaluation=await self.evaluations.create(self._caller(context), request)
        )

    @grpc_errors
    async def GetEvaluation(
        self, request: gateway_pb2.GetEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetEvaluationResponse:
        return gateway_pb2.GetEvaluationResponse(
            evaluation=self.evaluations.get(self._caller(context), request.evaluation_id)
        )

    @grpc_errors
    async def ListEvaluations(
        self, request: gateway_pb2.ListEvaluationsRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListEvaluationsResponse:
        return self.evaluations.list(self._caller(context), request)

    @grpc_errors
    async def CancelEvaluation(
        self, request: gateway_pb2.CancelEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CancelEvaluationResponse:
        evaluation = await self.evaluations.cancel(self._caller(context), request.evaluation_id)
        return gateway_pb2.CancelEvaluationResponse(evaluation=evaluation)

    @grpc_errors
    async def ResumeEvaluation(
        self, request: gateway_pb2.ResumeEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ResumeEvaluationResponse:
        evaluation = await self.evaluations.resume(self._caller(context), request.evaluation_id)
        return gateway_pb2.ResumeEvaluationResponse(evaluation=evaluation)

    @grpc_errors
    async def WatchEvaluation(
        self, request: gateway_pb2.WatchEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.WatchEvaluationResponse]:
        events = self.evaluations.watch(self._caller(context), request)
        await context.send_initial_metadata(())
        async for event in events:
            yield gateway_pb2.WatchEvaluationResponse(event=event)

    async def start(self) -> None:
        token_file = self.settings.admin_token_file or self.settings.db_path.parent / "admin.token"
        if self.tokens.bootstrap(token_file) is not None:
            print(f"gateway: no API token existed; wrote an admin token to {token_file}", file=sys.stderr, flush=True)
        await self.orchestrator.refresh_budgets()
        self.agents.recover()
        await self.orchestrator.recover()
        self.keeper.start()
        await self.evaluations.recover()

    async def shutdown(self) -> None:
        self._closing = True
        await self.evaluations.shutdown()
        await self.agents.close()
        await self.orchestrator.shutdown()
        await self.keeper.close()
        await self.chores.close()
        for channel in self._channels:
            await channel.close(None)
        self.reads.close()
        self.db.close()
        self.tokens.close()


def hosted_gateway(settings: GatewaySettings) -> Hosted:
    hand_over_gil_sooner()
    store = open_store(settings.store_url)
    store.check()
    servicer = GatewayServicer(settings, store)
    register_gateway_metrics(settings.db_path, lambda: len(servicer.orchestrator.scheduler.queued()))
    channels = servicer.dependency_channels()
    hosted = Hosted(
        register=lambda server: add_with_encoded_responses(
            gateway_pb2_grpc.add_GatewayServiceServicer_to_server, servicer, server, ["WatchRun"]
        ),
        service_names=[gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name],
        on_start=servicer.start,
        on_shutdown=servicer.shutdown,
        max_request_bytes=settings.max_request_bytes,
        dependency_checks=[
            ("store", store_check(store)),
            *((name, grpc_health_check(channel, name)) for name, channel in channels),
        ],
        on_stopped=[servicer.agents.scratch.release],
    )
    if settings.http_listen is not None:
        from services.gateway.http_api import attach_http

        attach_http(hosted, settings.http_listen)
    return hosted
