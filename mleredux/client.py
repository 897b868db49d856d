"""The Python SDK: an async client of the gateway, and a small sync wrapper.

    async with GatewayClient("127.0.0.1:50051") as client:
        run = await client.create_run("demo-digits", "dummy")
        async for event in client.watch(run.run_id):
            print(event)

Errors from the service arrive as `GatewayError` with the gRPC status code and the service's message.
"""

from __future__ import annotations

import asyncio
import tarfile
import tempfile
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

import grpc

from mleredux.config import gateway_token
from mleredux.errors import MleReduxError
from mleredux.v1 import (
    common_pb2,
    competitions_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
)

T = TypeVar("T")

MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class GatewayError(MleReduxError):
    """The gateway answered with an error, or could not be reached."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.grpc_code = code.name


def _wrap(exc: grpc.aio.AioRpcError, address: str) -> GatewayError:
    if exc.code() == grpc.StatusCode.UNAVAILABLE:
        return GatewayError(
            exc.code(), f"cannot reach the gateway at {address} (start it with `mleredux up`): {exc.details()}"
        )
    return GatewayError(exc.code(), exc.details() or exc.code().name)


class GatewayClient:
    """Async client of the gateway's gRPC API.

    `token` None defaults to MLEREDUX_TOKEN, then what `mleredux login` saved for this address, then
    the admin token of a gateway started from this machine's home (see `mleredux.config.gateway_token`);
    "" sends none (a caller that looked in another home already and found nothing).
    """

    def __init__(self, address: str, token: str | None = None) -> None:
        self.address = address
        self.token = token if token is not None else gateway_token(address=address)
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._stub = gateway_pb2_grpc.GatewayServiceStub(self._channel)
        #: Sent with every call.
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {self.token}"),) if self.token else ()

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close(None)

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise _wrap(exc, self.address) from None

    async def create_run(
        self,
        competition_id: str,
        agent: str,
        *,
        task: str = "",
        compute: common_pb2.ComputeProfile | None = None,
        env: dict[str, str] | None = None,
        model_access: common_pb2.ModelAccess | None = None,
    ) -> gateway_pb2.Run:
        request = gateway_pb2.CreateRunRequest(
            competition_id=competition_id,
            agent=agent,
            task=task,
            compute=compute,
            env=env or {},
            model_access=model_access,
        )
        answer = await self._call(self._stub.CreateRun(request, timeout=60, metadata=self._metadata))
        return answer.run

    async def get_run(self, run_id: str) -> gateway_pb2.Run:
        answer = await self._call(
            self._stub.GetRun(gateway_pb2.GetRunRequest(run_id=run_id), timeout=30, metadata=self._metadata)
        )
        return answer.run

    async def list_runs(self, *, page_size: int = 50, page_token: str = "") -> gateway_pb2.ListRunsResponse:
        request = gateway_pb2.ListRunsRequest(page_size=page_size, page_token=page_token)
        return await self._call(self._stub.ListRuns(request, timeout=30, metadata=self._metadata))

    async def cancel_run(self, run_id: str) -> gateway_pb2.Run:
        answer = await self._call(
            self._stub.CancelRun(gateway_pb2.CancelRunRequest(run_id=run_id), timeout=120, metadata=self._metadata)
        )
        return answer.run

    async def watch(self, run_id: str, *, from_seq: int = 1, follow: bool = True) -> AsyncIterator[common_pb2.RunEvent]:
        """Every event from `from_seq` (inclusive), then live ones until the run ends (with `follow`)."""
        async for batch in self.watch_batches(run_id, from_seq=from_seq, follow=follow):
            for event in batch:
                yield event

    async def watch_batches(
        self, run_id: str, *, from_seq: int = 1, follow: bool = True
    ) -> AsyncIterator[Sequence[common_pb2.RunEvent]]:
        """`watch`, a message at a time: consecutive events as the gateway sent them together (up to a
        runner's batch, hundreds of lines). For a client following a fast run, one step per batch
        instead of one per event is most of its Python cost."""
        request = gateway_pb2.WatchRunRequest(run_id=run_id, from_seq=from_seq, no_follow=not follow)
        try:
            async for batch in self._stub.WatchRun(request, metadata=self._metadata):
                yield batch.events
        except grpc.aio.AioRpcError as exc:
            raise _wrap(exc, self.address) from None

    async def list_artifacts(self, run_id: str) -> list[gateway_pb2.Artifact]:
        response = await self._call(
            self._stub.ListArtifacts(
                gateway_pb2.ListArtifactsRequest(run_id=run_id), timeout=60, metadata=self._metadata
            )
        )
        return list(response.artifacts)

    async def get_artifact(self, run_id: str, name: str) -> bytes:
        chunks = []
        try:
            async for chunk in self._stub.GetArtifact(
                gateway_pb2.GetArtifactRequest(run_id=run_id, name=name), metadata=self._metadata
            ):
                chunks.append(chunk.data)
        except grpc.aio.AioRpcError as exc:
            raise _wrap(exc, self.address) from None
        return b"".join(chunks)

    async def list_competitions(self) -> list[competitions_pb2.Competition]:
        found: list[competitions_pb2.Competition] = []
        token = ""
        while True:
            response = await self._call(
                self._stub.ListCompetitions(
                    gateway_pb2.ListCompetitionsRequest(page_token=token), timeout=30, metadata=self._metadata
                )
            )
            found += response.competitions
            token = response.next_page_token
            if not token:
                return found

    async def create_token(
        self, user: str = "", name: str = "", *, admin: bool = False
    ) -> gateway_pb2.CreateTokenResponse:
        request = gateway_pb2.CreateTokenRequest(user=user, name=name, admin=admin)
        return await self._call(self._stub.CreateToken(request, timeout=30, metadata=self._metadata))

    async def list_tokens(self, user: str = "") -> list[gateway_pb2.ApiToken]:
        response = await self._call(
            self._stub.ListTokens(gateway_pb2.ListTokensRequest(user=user), timeout=30, metadata=self._metadata)
        )
        return list(response.tokens)

    async def prune_runs(
        self, *, older_than_seconds: int = 0, keep_last: int = 0, max_database_bytes: int = 0, dry_run: bool = False
    ) -> gateway_pb2.PruneRunsResponse:
        """Admins: removes finished runs (records, events, artifacts) that a retention bound selects."""
        request = gateway_pb2.PruneRunsRequest(
            older_than_seconds=older_than_seconds,
            keep_last=keep_last,
            max_database_bytes=max_database_bytes,
            dry_run=dry_run,
        )
        return await self._call(self._stub.PruneRuns(request, timeout=600, metadata=self._metadata))

    async def revoke_token(self, token_id: str) -> gateway_pb2.ApiToken:
        answer = await self._call(
            self._stub.RevokeToken(
                gateway_pb2.RevokeTokenRequest(token_id=token_id), timeout=30, metadata=self._metadata
            )
        )
        return answer.api_token

    async def get_competition(self, competition_id: str) -> competitions_pb2.Competition:
        answer = await self._call(
            self._stub.GetCompetition(
                gateway_pb2.GetCompetitionRequest(competition_id=competition_id), timeout=30, metadata=self._metadata
            )
        )
        return answer.competition

    async def whoami(self) -> gateway_pb2.GetCallerResponse:
        return await self._call(
            self._stub.GetCaller(gateway_pb2.GetCallerRequest(), timeout=30, metadata=self._metadata)
        )

    # -- evaluations -------------------------------------------------------------------------------

    async def create_evaluation(
        self,
        agent: str,
        *,
        competition_ids: list[str] | tuple[str, ...] = (),
        split: str = "",
        seeds: int = 1,
        concurrency: int = 0,
        compute: common_pb2.ComputeProfile | None = None,
        name: str = "",
        env: dict[str, str] | None = None,
        max_attempts: int = 0,
        hint_run_ids: list[str] | tuple[str, ...] = (),
        hint_rollouts: bool = False,
        task: str = "",
        hint_evaluation_id: str = "",
        model_access: common_pb2.ModelAccess | None = None,
    ) -> gateway_pb2.Evaluation:
        """Starts `agent` on the competitions (or a named split) with `seeds` runs each (each run doing
        technique task `task`, if given); `hint_run_ids` (technique-task runs) or `hint_evaluation_id`
        (an ended technique-task evaluation) give each run their analyses read-only at /home/hints/;
        `model_access` is every run's (endpoints, budgets per run)."""
        request = gateway_pb2.CreateEvaluationRequest(
            agent=agent,
            competition_ids=list(competition_ids),
            split=split,
            seeds=seeds,
            concurrency=concurrency,
            compute=compute,
            name=name,
            env=env or {},
            max_attempts=max_attempts,
            hint_run_ids=list(hint_run_ids),
            hint_rollouts=hint_rollouts,
            task=task,
            hint_evaluation_id=hint_evaluation_id,
            model_access=model_access,
        )
        answer = await self._call(self._stub.CreateEvaluation(request, timeout=120, metadata=self._metadata))
        return answer.evaluation

    async def get_evaluation(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        request = gateway_pb2.GetEvaluationRequest(evaluation_id=evaluation_id)
        answer = await self._call(self._stub.GetEvaluation(request, timeout=60, metadata=self._metadata))
        return answer.evaluation

    async def list_evaluations(
        self, *, page_size: int = 50, page_token: str = ""
    ) -> gateway_pb2.ListEvaluationsResponse:
        request = gateway_pb2.ListEvaluationsRequest(page_size=page_size, page_token=page_token)
        return await self._call(self._stub.ListEvaluations(request, timeout=30, metadata=self._metadata))

    async def cancel_evaluation(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        request = gateway_pb2.CancelEvaluationRequest(evaluation_id=evaluation_id)
        answer = await self._call(self._stub.CancelEvaluation(request, timeout=300, metadata=self._metadata))
        return answer.evaluation

    async def resume_evaluation(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        """Runs again an ended evaluation's system failures and cancelled cells."""
        request = gateway_pb2.ResumeEvaluationRequest(evaluation_id=evaluation_id)
        answer = await self._call(self._stub.ResumeEvaluation(request, timeout=60, metadata=self._metadata))
        return answer.evaluation

    async def watch_evaluation(
        self, evaluation_id: str, *, from_seq: int = 1, follow: bool = True
    ) -> AsyncIterator[gateway_pb2.EvaluationEvent]:
        """Progress events from `from_seq`, then live ones until the evaluation ends (with `follow`)."""
        request = gateway_pb2.WatchEvaluationRequest(
            evaluation_id=evaluation_id, from_seq=from_seq, no_follow=not follow
        )
        try:
            async for answer in self._stub.WatchEvaluation(request, metadata=self._metadata):
                yield answer.event
        except grpc.aio.AioRpcError as exc:
            raise _wrap(exc, self.address) from None

    async def prepare(
        self, competition_id: str, *, task: str = ""
    ) -> AsyncIterator[gateway_pb2.PrepareCompetitionResponse]:
        request = gateway_pb2.PrepareCompetitionRequest(competition_id=competition_id, task=task)
        try:
            async for progress in self._stub.PrepareCompetition(request, metadata=self._metadata):
                yield progress
        except grpc.aio.AioRpcError as exc:
            raise _wrap(exc, self.address) from None

    # -- agents ------------------------------------------------------------------------------------

    async def create_agent(
        self,
        agent_id: str,
        *,
        directory: Path | None = None,
        git_url: str = "",
        git_ref: str = "",
        verify: bool = False,
    ) -> gateway_pb2.Agent:
        """Creates an agent from a folder (sent as a tar, in chunks) or a git URL; answers once its
        build has started (follow it with `watch_agent_build`)."""
        header = gateway_pb2.CreateAgentHeader(agent_id=agent_id, git_url=git_url, git_ref=git_ref, verify=verify)
        if directory is not None and not (directory / "Dockerfile").is_file():
            # Said here: an error inside the request stream would only cancel the call.
            raise MleReduxError(f"{directory} has no Dockerfile (an agent is a folder with a Dockerfile)")

        async def messages() -> AsyncIterator[gateway_pb2.CreateAgentRequest]:
            yield gateway_pb2.CreateAgentRequest(header=header)
            if directory is None:
                return
            with tempfile.TemporaryFile() as spool:
                await asyncio.to_thread(_tar_folder, directory, spool)
                spool.seek(0)
                while chunk := await asyncio.to_thread(spool.read, AGENT_CHUNK_BYTES):
                    yield gateway_pb2.CreateAgentRequest(context_chunk=chunk)

        answer = await self._call(self._stub.CreateAgent(messages(), timeout=900, metadata=self._metadata))
        return answer.agent

    async def watch_agent_build(
        self, name: str, *, from_seq: int = 1
    ) -> AsyncIterator[gateway_pb2.WatchAgentBuildResponse]:
        """The build log from `from_seq`, live; the last message carries the agent in its final state."""
        request = gateway_pb2.WatchAgentBuildRequest(name=name, from_seq=from_seq)
        try:
            async for message in self._stub.WatchAgentBuild(request, metadata=self._metadata):
                yield message
        except grpc.aio.AioRpcError as exc:
            raise _wrap(exc, self.address) from None

    async def get_agent(self, name: str) -> gateway_pb2.Agent:
        request = gateway_pb2.GetAgentRequest(name=name)
        return (await self._call(self._stub.GetAgent(request, timeout=30, metadata=self._metadata))).agent

    async def list_agents(self, *, page_size: int = 100, page_token: str = "") -> gateway_pb2.ListAgentsResponse:
        request = gateway_pb2.ListAgentsRequest(page_size=page_size, page_token=page_token)
        return await self._call(self._stub.ListAgents(request, timeout=30, metadata=self._metadata))

    async def delete_agent(self, name: str) -> gateway_pb2.Agent:
        request = gateway_pb2.DeleteAgentRequest(name=name)
        return (await self._call(self._stub.DeleteAgent(request, timeout=30, metadata=self._metadata))).agent

    async def share_agent(self, name: str, shared: bool = True) -> gateway_pb2.Agent:
        request = gateway_pb2.ShareAgentRequest(name=name, shared=shared)
        return (await self._call(self._stub.ShareAgent(request, timeout=30, metadata=self._metadata))).agent


#: The size of one CreateAgent context chunk (well under the gateway's request limit).
AGENT_CHUNK_BYTES = 1 << 20
#: Never part of an agent's context.
_SKIPPED = frozenset({".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".venv"})


def _tar_folder(directory: Path, out: BinaryIO) -> None:
    """The folder as a tar (its contents at the top), without VCS data and caches."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if _SKIPPED.intersection(Path(info.name).parts):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=out, mode="w") as tar:
        for child in sorted(directory.iterdir()):
            tar.add(child, arcname=child.name, filter=keep)


class SyncGatewayClient:
    """The same calls, blocking, for scripts and notebooks without an event loop of their own."""

    def __init__(self, address: str, token: str | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = self._loop.run_until_complete(self._make(address, token))

    @staticmethod
    async def _make(address: str, token: str | None) -> GatewayClient:
        return GatewayClient(address, token)

    def __enter__(self) -> SyncGatewayClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()

    def create_run(self, competition_id: str, agent: str, **kwargs: object) -> gateway_pb2.Run:
        return self._loop.run_until_complete(self._client.create_run(competition_id, agent, **kwargs))  # type: ignore[arg-type]

    def get_run(self, run_id: str) -> gateway_pb2.Run:
        return self._loop.run_until_complete(self._client.get_run(run_id))

    def list_runs(self, **kwargs: object) -> gateway_pb2.ListRunsResponse:
        return self._loop.run_until_complete(self._client.list_runs(**kwargs))  # type: ignore[arg-type]

    def cancel_run(self, run_id: str) -> gateway_pb2.Run:
        return self._loop.run_until_complete(self._client.cancel_run(run_id))

    def events(self, run_id: str, *, from_seq: int = 1) -> list[common_pb2.RunEvent]:
        """The run's events so far (no following)."""

        async def collect() -> list[common_pb2.RunEvent]:
            return [e async for e in self._client.watch(run_id, from_seq=from_seq, follow=False)]

        return self._loop.run_until_complete(collect())

    def list_artifacts(self, run_id: str) -> list[gateway_pb2.Artifact]:
        return self._loop.run_until_complete(self._client.list_artifacts(run_id))

    def get_artifact(self, run_id: str, name: str) -> bytes:
        return self._loop.run_until_complete(self._client.get_artifact(run_id, name))

    def create_token(self, user: str = "", name: str = "", *, admin: bool = False) -> gateway_pb2.CreateTokenResponse:
        return self._loop.run_until_complete(self._client.create_token(user, name, admin=admin))

    def list_tokens(self, user: str = "") -> list[gateway_pb2.ApiToken]:
        return self._loop.run_until_complete(self._client.list_tokens(user))

    def revoke_token(self, token_id: str) -> gateway_pb2.ApiToken:
        return self._loop.run_until_complete(self._client.revoke_token(token_id))

    def prune_runs(self, **kwargs: Any) -> gateway_pb2.PruneRunsResponse:
        return self._loop.run_until_complete(self._client.prune_runs(**kwargs))

    def whoami(self) -> gateway_pb2.GetCallerResponse:
        return self._loop.run_until_complete(self._client.whoami())

    def create_evaluation(self, agent: str, **kwargs: object) -> gateway_pb2.Evaluation:
        return self._loop.run_until_complete(self._client.create_evaluation(agent, **kwargs))  # type: ignore[arg-type]

    def get_evaluation(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        return self._loop.run_until_complete(self._client.get_evaluation(evaluation_id))

    def list_evaluations(self, **kwargs: object) -> gateway_pb2.ListEvaluationsResponse:
        return self._loop.run_until_complete(self._client.list_evaluations(**kwargs))  # type: ignore[arg-type]

    def cancel_evaluation(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        return self._loop.run_until_complete(self._client.cancel_evaluation(evaluation_id))

    def resume_evaluation(self, evaluation_id: str) -> gateway_pb2.Evaluation:
        return self._loop.run_until_complete(self._client.resume_evaluation(evaluation_id))
