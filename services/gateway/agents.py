"""Agents as resources: `users/<user>/agents/<name>`, built on the runners, resolved per caller.

An agent belongs to its user; two users' `probe` are two agents. The built-ins (the images under
agent_images/: `dummy`, `baseline`) are `builtin/<name>`, shared and read-only; an admin can share a
user's agent with everyone. A run names an agent by its short name, resolved in this order: the
caller's own, the built-ins, agents an admin shared. A bare image reference (NAME:TAG) is for admins
only: any other user could otherwise run whatever image a runner host holds.

Creating an agent checks everything that can be checked without Docker here (the name, the quota,
the tar, the Dockerfile's bases, the manifest), so bad input is refused before anything is stored.
The build itself happens on every runner (BuildAgent), with its log kept in the database (and, at
the end, as the artifact `agents/<user>/<name>/build.log`). A failed build leaves a FAILED record
(saying why) and no image; its name is free again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from mleredux.agent_context import check_directory, check_git_url, unpack_tar
from mleredux.errors import MleReduxError, PermissionDeniedError
from mleredux.images import image_tag, list_images
from mleredux.names import AGENT_NAME_LENGTH_MAX, AGENT_NAME_RE, check_image_reference
from mleredux.store import ArtifactStore
from mleredux.v1 import common_pb2, gateway_pb2, runner_pb2, runner_pb2_grpc
from services.gateway.auth import Principal
from services.scratch import ServiceScratch

BuildState = gateway_pb2.AgentBuildState
VerifyState = gateway_pb2.AgentVerifyState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    owner TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    shared INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL,
    PRIMARY KEY (owner, agent_id)
);
CREATE TABLE IF NOT EXISTS agent_log (
    owner TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (owner, agent_id, seq)
);
"""
#: Build log lines are cut to this many characters (a build's output is the tenant's text).
LOG_LINE_MAX_CHARS = 2000
#: The competition a verification smoke run works on (small, offline, always available).
SMOKE_COMPETITION = "demo-digits"


class AgentNotFoundError(MleReduxError):
    grpc_code = "NOT_FOUND"


class AgentExistsError(MleReduxError):
    grpc_code = "ALREADY_EXISTS"


class AgentQuotaError(MleReduxError):
    grpc_code = "RESOURCE_EXHAUSTED"


class AgentNotReadyError(MleReduxError):
    grpc_code = "FAILED_PRECONDITION"


class AgentInputError(MleReduxError):
    grpc_code = "INVALID_ARGUMENT"


@dataclass(frozen=True)
class AgentSettings:
    #: The largest tar context accepted, in bytes.
    context_max_bytes: int = 100 << 20
    #: Agents (building or ready) one user may have.
    quota_count: int = 20
    #: Image bytes one user's ready agents may take together.
    quota_bytes: int = 10 << 30
    #: Lines of one build's log that are kept (the rest are counted, not stored).
    log_max_lines: int = 20_000
    #: Seconds one build may take on a runner (the runner has its own ceiling too).
    build_timeout_seconds: int = 900


@dataclass(frozen=True)
class ResolvedAgent:
    """What a run needs of its agent."""

    image: str
    resource: str
    digest: str
    commit: str
    manifest: common_pb2.AgentManifest


def agent_run(
    agent: ResolvedAgent, *, name: str, compute: common_pb2.ComputeProfile, env: Mapping[str, str]
) -> gateway_pb2.Run:
    """A run's fields that come from its agent: what CreateRun and an evaluation's runs both record.

    `name` is the agent as the request gave it; the image, resource name, digest, git commit and
    manifest are the resolved agent's; the compute profile is the manifest's defaults under what the
    request asks for itself, and the env the manifest's under the request's. The caller sets the rest
    (id, competition, owner, times)."""
    effective = common_pb2.ComputeProfile()
    effective.CopyFrom(agent.manifest.compute)
    for descriptor, value in compute.ListFields():
        setattr(effective, descriptor.name, value)
    return gateway_pb2.Run(
        agent=name,
        image=agent.image,
        compute=effective,
        env={**agent.manifest.env, **env},
        agent_resource=agent.resource,
        agent_digest=agent.digest,
        agent_commit=agent.commit,
        agent_manifest=agent.manifest,
    )


def resource_name(owner: str, agent_id: str) -> str:
    return f"users/{owner}/agents/{agent_id}"


def check_agent_id(agent_id: str) -> str:
    if not agent_id:
        raise AgentInputError("the agent's name is required (e.g. probe)")
    if len(agent_id) > AGENT_NAME_LENGTH_MAX or AGENT_NAME_RE.fullmatch(agent_id) is None:
        raise AgentInputError(
            f"{agent_id[:80]!r} is not an agent name (lowercase letters and digits, separated by . _ or -, "
            f"at most {AGENT_NAME_LENGTH_MAX})"
        )
    if agent_id in list_images():
        raise AgentInputError(f"{agent_id!r} is a built-in agent; choose another name")
    return agent_id


def _builtin(agent_id: str) -> gateway_pb2.Agent:
    return gateway_pb2.Agent(
        name=f"builtin/{agent_id}",
        agent_id=agent_id,
        image=image_tag(agent_id),
        build_state=BuildState.AGENT_BUILD_STATE_READY,
        shared=True,
    )


class AgentRegistry:
    """Agents and their build logs in the gateway's SQLite database; builds driven on the runners."""

    def __init__(
        self,
        db_path: Path,
        store: ArtifactStore,
        runners: dict[str, runner_pb2_grpc.RunnerServiceStub],
        settings: AgentSettings,
    ) -> None:
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.store = store
        self.runners = runners
        self.settings = settings
        #: Uploaded contexts are spooled and unpacked here; a gateway killed mid-upload leaves its
        #: folder to the next one to remove (services/scratch.py).
        self.scratch = ServiceScratch("gateway", db_path.parent)
        self.scratch.claim()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: dict[tuple[str, str], asyncio.Event] = {}
        #: Set by the servicer: runs a smoke run of (owner, agent_id), answers (verified, why).
        self.smoke_run: Callable[[str, str], Awaitable[tuple[bool, str]]] | None = None

    # -- records -----------------------------------------------------------------------------------

    def _get(self, owner: str, agent_id: str) -> gateway_pb2.Agent | None:
        row = self._db.execute(
            "SELECT data, shared FROM agents WHERE owner = ? AND agent_id = ?", (owner, agent_id)
        ).fetchone()
        if row is None:
            return None
        agent = gateway_pb2.Agent.FromString(row[0])
        agent.shared = bool(row[1])
        last = self._db.execute(
            "SELECT MAX(seq) FROM agent_log WHERE owner = ? AND agent_id = ?", (owner, agent_id)
        ).fetchone()[0]
        agent.last_seq = last or 0
        return agent

    def _save(self, agent: gateway_pb2.Agent) -> None:
        self._db.execute(
            "UPDATE agents SET state = ?, size_bytes = ?, data = ? WHERE owner = ? AND agent_id = ?",
            (agent.build_state, agent.size_bytes, agent.SerializeToString(), agent.owner, agent.agent_id),
        )
        self._notify(agent.owner, agent.agent_id)

    def _log(self, agent: gateway_pb2.Agent, seq: int, line: str) -> None:
        self._db.execute(
            "INSERT INTO agent_log (owner, agent_id, seq, line) VALUES (?, ?, ?, ?)",
            (agent.owner, agent.agent_id, seq, line[:LOG_LINE_MAX_CHARS]),
        )
        self._notify(agent.owner, agent.agent_id)

    def _notify(self, owner: str, agent_id: str) -> None:
        event = self._wake.pop((owner, agent_id), None)
        if event is not None:
            event.set()

    async def _wait(self, owner: str, agent_id: str, seconds: float) -> None:
        event = self._wake.setdefault((owner, agent_id), asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    def _parse(self, caller: Principal, name: str) -> tuple[str, str]:
        """(owner, agent_id) of a resource name or of the caller's short name."""
        if name.startswith("users/"):
            parts = name.split("/")
            if len(parts) != 4 or parts[2] != "agents":
                raise AgentInputError(f"{name[:100]!r} is not an agent name (users/<user>/agents/<name>)")
            return parts[1], parts[3]
        return caller.user, name

    def find(self, caller: Principal, name: str) -> gateway_pb2.Agent:
        """The agent `name` names, if the caller may see it; another user's unshared agent answers
        exactly as a missing one."""
        if not name:
            raise AgentInputError("name is required")
        if name.startswith("builtin/"):
            agent_id = name.removeprefix("builtin/")
            if agent_id in list_images():
                return _builtin(agent_id)
            raise AgentNotFoundError(f"no agent {name!r}")
        owner, agent_id = self._parse(caller, name)
        agent = self._get(owner, agent_id)
        if agent is not None and (caller.may_see(owner) or agent.shared):
            return agent
        if not name.startswith("users/"):
            if agent_id in list_images():
                return _builtin(agent_id)
            shared = self._shared(agent_id)
            if shared is not None:
                return shared
        raise AgentNotFoundError(f"no agent {name!r} (see `mleredux agents list`)")

    def _shared(self, agent_id: str) -> gateway_pb2.Agent | None:
        row = self._db.execute(
            "SELECT owner FROM agents WHERE agent_id = ? AND shared = 1 AND state = ? ORDER BY owner LIMIT 1",
            (agent_id, BuildState.AGENT_BUILD_STATE_READY),
        ).fetchone()
        return self._get(row[0], agent_id) if row else None

    def list(self, caller: Principal, page_size: int, page_token: str) -> tuple[list[gateway_pb2.Agent], str]:
        if page_size < 0:
            raise AgentInputError("page_size must not be negative")
        size = min(page_size or 100, 1000)
        visible = [_builtin(agent_id) for agent_id in list_images()]
        rows = self._db.execute(
            "SELECT owner, agent_id FROM agents WHERE owner = ? OR shared = 1 OR ? ORDER BY owner, agent_id",
            (caller.user, int(caller.admin)),
        ).fetchall()
        visible += [a for a in (self._get(owner, agent_id) for owner, agent_id in rows) if a is not None]
        visible.sort(key=lambda a: a.name)
        start = [i for i, a in enumerate(visible) if a.name > page_token] if page_token else [0]
        first = start[0] if start else len(visible)
        page = visible[first : first + size]
        more = first + size < len(visible)
        return page, page[-1].name if more and page else ""

    def delete(self, caller: Principal, name: str) -> gateway_pb2.Agent:
        agent = self.find(caller, name)
        if not agent.owner:
            raise PermissionDeniedError(f"{agent.name} is a built-in agent; built-ins are read-only")
        if not caller.may_see(agent.owner):
            raise PermissionDeniedError(f"{agent.name} belongs to {agent.owner}; shared agents are read-only")
        if agent.build_state == BuildState.AGENT_BUILD_STATE_BUILDING:
            raise AgentNotReadyError(f"{agent.name} is still building; delete it once the build has ended")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM agents WHERE owner = ? AND agent_id = ?", (agent.owner, agent.agent_id))
            self._db.execute("DELETE FROM agent_log WHERE owner = ? AND agent_id = ?", (agent.owner, agent.agent_id))
        # The image stays on the runners: another agent (anyone's) may have the same content.
        return agent

    def share(self, caller: Principal, name: str, shared: bool) -> gateway_pb2.Agent:
        if not caller.admin:
            raise PermissionDeniedError("only an admin can share an agent")
        agent = self.find(caller, name)
        if not agent.owner:
            raise AgentInputError(f"{agent.name} is a built-in agent; it is shared already")
        self._db.execute(
            "UPDATE agents SET shared = ? WHERE owner = ? AND agent_id = ?", (int(shared), agent.owner, agent.agent_id)
        )
        return self.find(caller, agent.name)

    # -- runs --------------------------------------------------------------------------------------

    def resolve(self, caller: Principal, agent: str) -> ResolvedAgent:
        """What CreateRun runs for `agent`, if the caller may use it."""
        if any(c in agent for c in ":/@") and not agent.startswith(("users/", "builtin/")):
            check_image_reference(agent, "agent")
            if not caller.admin:
                raise PermissionDeniedError(
                    f"agent {agent[:100]!r} is a bare image reference, which only admins may run; add your agent "
                    "with `mleredux agents add DIR|GIT_URL` and run it by name"
                )
            return ResolvedAgent(agent, "", "", "", common_pb2.AgentManifest())
        found = self.find(caller, agent)
        if found.build_state != BuildState.AGENT_BUILD_STATE_READY:
            state = BuildState.Name(found.build_state).removeprefix("AGENT_BUILD_STATE_").lower()
            raise AgentNotReadyError(f"agent {found.name} is not ready (its build is {state}): {found.build_message}")
        return ResolvedAgent(found.image, found.name, found.digest, found.git_commit, found.manifest)

    # -- creating ----------------------------------------------------------------------------------

    async def create(
        self, caller: Principal, messages: AsyncIterator[gateway_pb2.CreateAgentRequest]
    ) -> gateway_pb2.Agent:
        first = await anext(aiter(messages), None)
        if first is None or not first.HasField("header"):
            raise AgentInputError("the first CreateAgent message must be the header (agent_id, and git_url or none)")
        header = first.header
        try:
            agent_id = check_agent_id(header.agent_id)
            self._check_room(caller, agent_id)
        except MleReduxError:
            # Refusing while the client still uploads makes gRPC answer its own "Internal error" instead of
            # ours; reading the rest (bounded by the context cap) lets the client see the reason.
            await self._discard(messages)
            raise
        agent = gateway_pb2.Agent(
            name=resource_name(caller.user, agent_id),
            agent_id=agent_id,
            owner=caller.user,
            git_url=header.git_url,
            git_ref=header.git_ref,
            build_state=BuildState.AGENT_BUILD_STATE_BUILDING,
            verify_state=VerifyState.AGENT_VERIFY_STATE_VERIFYING
            if header.verify
            else VerifyState.AGENT_VERIFY_STATE_UNSPECIFIED,
        )
        agent.create_time.FromNanoseconds(time.time_ns())
        context_key = ""
        if header.git_url:
            check_git_url(header.git_url, allow_file=True)  # the runner decides on file:// itself
            if await anext(aiter(messages), None) is not None:
                raise AgentInputError("a git source takes no context chunks")
        else:
            if header.git_ref:
                raise AgentInputError("git_ref needs a git_url")
            context_key, agent.context_sha256 = await self._receive_context(messages)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            taken = self._db.execute(
                "SELECT state FROM agents WHERE owner = ? AND agent_id = ?", (caller.user, agent_id)
            ).fetchone()
            if taken is not None and taken[0] != BuildState.AGENT_BUILD_STATE_FAILED:
                raise AgentExistsError(f"you already have an agent {agent_id!r}; delete it first")
            self._db.execute("DELETE FROM agents WHERE owner = ? AND agent_id = ?", (caller.user, agent_id))
            self._db.execute("DELETE FROM agent_log WHERE owner = ? AND agent_id = ?", (caller.user, agent_id))
            self._db.execute(
                "INSERT INTO agents (owner, agent_id, state, data) VALUES (?, ?, ?, ?)",
                (caller.user, agent_id, agent.build_state, agent.SerializeToString()),
            )
        task = asyncio.create_task(self._build(agent, context_key, header.verify), name=f"agent-{agent.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return agent

    def _check_room(self, caller: Principal, agent_id: str) -> None:
        """The name is free and the user is under the agent-count quota, or the specific refusal."""
        existing = self._get(caller.user, agent_id)
        if existing is not None and existing.build_state != BuildState.AGENT_BUILD_STATE_FAILED:
            raise AgentExistsError(f"you already have an agent {agent_id!r}; delete it first (`mleredux agents rm`)")
        count = self._db.execute(
            "SELECT COUNT(*) FROM agents WHERE owner = ? AND state != ?",
            (caller.user, BuildState.AGENT_BUILD_STATE_FAILED),
        ).fetchone()[0]
        if count >= self.settings.quota_count:
            raise AgentQuotaError(
                f"you have {count} agents, the most one user may have ({self.settings.quota_count}); delete one first"
            )

    async def _discard(self, messages: AsyncIterator[gateway_pb2.CreateAgentRequest]) -> None:
        """Reads and drops the rest of an upload, at most the context cap (a larger one is cut off)."""
        size = 0
        async for message in messages:
            size += len(message.context_chunk)
            if size > self.settings.context_max_bytes:
                return

    async def _receive_context(self, messages: AsyncIterator[gateway_pb2.CreateAgentRequest]) -> tuple[str, str]:
        """Spools the tar to a temp file (bounded), checks it and stores it; returns (key, sha256)."""
        cap = self.settings.context_max_bytes
        with self.scratch.folder("agent-context-") as scratch:
            archive = scratch / "context.tar"
            digest = hashlib.sha256()
            size = 0
            with archive.open("wb") as out:
                async for message in messages:
                    if message.HasField("header"):
                        raise AgentInputError("only the first CreateAgent message may be a header")
                    size += len(message.context_chunk)
                    if size > cap:
                        raise AgentQuotaError(
                            f"the build context is over the cap of {cap >> 20} MiB; leave data and caches out of "
                            "the agent's folder"
                        )
                    digest.update(message.context_chunk)
                    out.write(message.context_chunk)
            if size == 0:
                raise AgentInputError("no build context: send a tar of the agent's folder, or a git_url")
            sha = digest.hexdigest()

            def check_and_store() -> str:
                unpacked = scratch / "context"
                unpacked.mkdir()
                unpack_tar(archive, unpacked)
                check_directory(unpacked)
                key = f"agents/contexts/{sha}.tar"
                self.store.put_file(key, archive, sha256=sha)
                return key

            return await asyncio.to_thread(check_and_store), sha

    async def _build(self, agent: gateway_pb2.Agent, context_key: str, verify: bool) -> None:
        seq = 0
        kept = self.settings.log_max_lines
        lines: list[str] = []

        def say(line: str) -> None:
            nonlocal seq
            if seq < kept:
                seq += 1
                self._log(agent, seq, line)
                lines.append(line)

        request = runner_pb2.BuildAgentRequest(
            context_key=context_key,
            git_url=agent.git_url,
            git_ref=agent.git_ref,
            timeout_seconds=self.settings.build_timeout_seconds,
            agent=agent.name,
        )
        try:
            result: runner_pb2.BuildAgentResult | None = None
            # Every runner builds it, so a run of it can be placed anywhere.
            for address, runner in self.runners.items():
                if len(self.runners) > 1:
                    say(f"-- building on runner {address}")
                async for message in runner.BuildAgent(request):
                    if message.HasField("line"):
                        say(message.line)
                    else:
                        result = message.result
            if result is None:
                raise AgentNotReadyError("the runner ended the build without a result")
            # An image counts once however many of the user's agents share it (same context, same image).
            images = self._image_sizes(agent.owner)
            used = sum(images.values())
            if result.digest not in images and used + result.size_bytes > self.settings.quota_bytes:
                raise AgentQuotaError(
                    f"the image is {result.size_bytes >> 20} MiB and your agents already take {used >> 20} MiB of "
                    f"your {self.settings.quota_bytes >> 20} MiB; delete an agent first"
                )
            agent.image = result.image
            agent.digest = result.digest
            agent.size_bytes = result.size_bytes
            agent.git_commit = result.git_commit
            agent.manifest.CopyFrom(result.manifest)
            agent.build_state = BuildState.AGENT_BUILD_STATE_READY
            agent.build_message = "built" if result.built else "the same context was built before; its image is reused"
        except grpc.aio.AioRpcError as exc:
            self._failed(agent, exc.details() or exc.code().name, say)
        except MleReduxError as exc:
            self._failed(agent, str(exc), say)
        except asyncio.CancelledError:
            self._failed(agent, "the gateway stopped during the build; add the agent again", say)
            raise
        finally:
            self._save(agent)
            with contextlib.suppress(Exception):
                log = "\n".join(lines).encode()
                await asyncio.to_thread(self.store.put_bytes, f"agents/{agent.owner}/{agent.agent_id}/build.log", log)
            if agent.build_state == BuildState.AGENT_BUILD_STATE_FAILED and context_key:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.delete_prefix, context_key)
        if verify and agent.build_state == BuildState.AGENT_BUILD_STATE_READY:
            await self._verify(agent, say)

    def _image_sizes(self, owner: str) -> dict[str, int]:
        """digest -> bytes of the images of the owner's ready agents."""
        rows = self._db.execute(
            "SELECT data FROM agents WHERE owner = ? AND state = ?", (owner, BuildState.AGENT_BUILD_STATE_READY)
        ).fetchall()
        agents = [gateway_pb2.Agent.FromString(row[0]) for row in rows]
        return {a.digest: a.size_bytes for a in agents}

    def _failed(self, agent: gateway_pb2.Agent, why: str, say: Callable[[str], None]) -> None:
        agent.build_state = BuildState.AGENT_BUILD_STATE_FAILED
        agent.build_message = why
        agent.verify_state = VerifyState.AGENT_VERIFY_STATE_UNSPECIFIED
        say(f"build failed: {why}")

    async def _verify(self, agent: gateway_pb2.Agent, say: Callable[[str], None]) -> None:
        say(f"verifying: a smoke run on {SMOKE_COMPETITION}")
        try:
            if self.smoke_run is None:
                raise AgentNotReadyError("this gateway cannot start smoke runs")
            ok, why = await self.smoke_run(agent.owner, agent.agent_id)
        except MleReduxError as exc:
            ok, why = False, str(exc)
        agent.verify_state = (
            VerifyState.AGENT_VERIFY_STATE_VERIFIED if ok else VerifyState.AGENT_VERIFY_STATE_NOT_VERIFIED
        )
        agent.verify_message = why
        say(("verified: " if ok else "not verified: ") + why)
        current = self._get(agent.owner, agent.agent_id)
        if current is not None and current.create_time == agent.create_time:
            self._save(agent)

    def _finished(self, agent: gateway_pb2.Agent) -> bool:
        return agent.build_state != BuildState.AGENT_BUILD_STATE_BUILDING and (
            agent.verify_state != VerifyState.AGENT_VERIFY_STATE_VERIFYING
        )

    async def watch(
        self, caller: Principal, name: str, from_seq: int
    ) -> AsyncIterator[gateway_pb2.WatchAgentBuildResponse]:
        if from_seq < 0:
            raise AgentInputError("from_seq must not be negative")
        agent = self.find(caller, name)
        next_seq = max(from_seq, 1)
        while True:
            rows = self._db.execute(
                "SELECT seq, line FROM agent_log WHERE owner = ? AND agent_id = ? AND seq >= ? ORDER BY seq LIMIT 500",
                (agent.owner, agent.agent_id, next_seq),
            ).fetchall()
            for seq, line in rows:
                yield gateway_pb2.WatchAgentBuildResponse(seq=seq, line=line)
                next_seq = seq + 1
            if rows:
                continue
            current = self._get(agent.owner, agent.agent_id) if agent.owner else agent
            if current is None:
                raise AgentNotFoundError(f"agent {agent.name} was deleted")
            if self._finished(current) and current.last_seq < next_seq:
                yield gateway_pb2.WatchAgentBuildResponse(agent=current)
                return
            await self._wait(agent.owner, agent.agent_id, 1.0)

    def recover(self) -> None:
        """Builds that were going when the gateway stopped have no task any more: they failed."""
        rows = self._db.execute(
            "SELECT owner, agent_id FROM agents WHERE state = ?", (BuildState.AGENT_BUILD_STATE_BUILDING,)
        ).fetchall()
        for owner, agent_id in rows:
            agent = self._get(owner, agent_id)
            if agent is not None:
                agent.build_state = BuildState.AGENT_BUILD_STATE_FAILED
                agent.build_message = "the gateway restarted during the build; add the agent again"
                agent.verify_state = VerifyState.AGENT_VERIFY_STATE_UNSPECIFIED
                self._save(agent)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._db.close()
