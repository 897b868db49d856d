"""BuildAgent: an agent image built on this runner's Docker engine from a context in the store or a git
repository (mleredux/agent_context.py holds the checks and the build itself).

The build runs in a worker thread; its output lines are handed to the RPC's stream as they come. One
build at a time per runner (a build takes the engine's CPUs, and the bound keeps a flood of uploads
from queuing hundreds of builds on one host); the rest wait their turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from mleredux.agent_context import ALLOWED_BASES, build, check_directory, clone, unpack_tar
from mleredux.errors import InvalidArgumentError
from mleredux.images import _image_exists
from mleredux.store import ArtifactStore
from mleredux.user_agents import ensure_bases
from mleredux.v1 import runner_pb2
from services.scratch import ServiceScratch


@dataclass(frozen=True)
class AgentBuildSettings:
    #: Where contexts are unpacked or cloned (a folder per build, removed after it, and by the next
    #: runner when this one is killed mid-build: services/scratch.py).
    work_root: Path
    #: Seconds a build (clone included) may take when the request leaves it unset, and at most.
    timeout_seconds: float = 900.0
    #: Allow file:// git URLs (one machine, where the runner may read the user's folders).
    allow_file_git: bool = False


class AgentBuilder:
    def __init__(self, settings: AgentBuildSettings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        self._one_at_a_time = asyncio.Semaphore(1)
        self.scratch = ServiceScratch("runner", settings.work_root)
        self.scratch.claim()

    def _timeout(self, request: runner_pb2.BuildAgentRequest) -> float:
        limit = self.settings.timeout_seconds
        return min(float(request.timeout_seconds), limit) if request.timeout_seconds > 0 else limit

    def _work(
        self, request: runner_pb2.BuildAgentRequest, timeout: float, say: Callable[[str], None]
    ) -> runner_pb2.BuildAgentResult:
        with self.scratch.folder("agent-build-") as scratch:
            context = scratch / "context"
            commit = ""
            if request.git_url:
                say(f"cloning {request.git_url} at {request.git_ref or 'the default branch'}")
                commit = clone(
                    request.git_url,
                    request.git_ref,
                    context,
                    allow_file=self.settings.allow_file_git,
                    timeout=timeout,
                )
                say(f"checked out {commit}")
            else:
                archive = scratch / "context.tar"
                self.store.get_file(request.context_key, archive)
                context.mkdir()
                unpack_tar(archive, context)
                archive.unlink()
            manifest = check_directory(context)
            dockerfile = (context / "Dockerfile").read_text(errors="replace")
            if any(base in dockerfile and not _image_exists(base) for base in ALLOWED_BASES):
                say("building our base images first (once per host)")
                ensure_bases(say)
            built = build(context, label=request.agent, timeout=timeout, on_output=say)
            say(f"image {built.image} ({built.digest}) " + ("built" if built.built else "reused: same context"))
            return runner_pb2.BuildAgentResult(
                image=built.image,
                digest=built.digest,
                size_bytes=built.size_bytes,
                git_commit=commit,
                manifest=manifest,
                built=built.built,
            )

    async def build(self, request: runner_pb2.BuildAgentRequest) -> AsyncIterator[runner_pb2.BuildAgentResponse]:
        if bool(request.context_key) == bool(request.git_url):
            raise InvalidArgumentError("BuildAgent needs exactly one of context_key and git_url")
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def say(line: str) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        timeout = self._timeout(request)

        def work() -> runner_pb2.BuildAgentResult:
            try:
                return self._work(request, timeout, say)
            finally:
                loop.call_soon_threadsafe(lines.put_nowait, None)

        async with self._one_at_a_time:
            job = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                while (line := await lines.get()) is not None:
                    yield runner_pb2.BuildAgentResponse(line=line)
                result = await job
            finally:
                if not job.done():
                    # The caller went away: the thread finishes (or times out) on its own; nothing of
                    # it outlives it but a cached image.
                    job.add_done_callback(lambda j: j.exception())
        yield runner_pb2.BuildAgentResponse(result=result)
