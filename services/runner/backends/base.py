"""The ContainerBackend protocol: what the runner needs of a container engine.

Limits every implementation states: containers never get a network (the agent talks to the outside
only through the unix sockets the runner mounts), images are never pulled (a missing image is
`ImageMissingError`), and `remove` is safe to call on any path, any number of times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from mleredux.errors import MleReduxError


class ContainerGoneError(MleReduxError):
    """The container was removed by someone else while the runner was using it."""

    grpc_code = "NOT_FOUND"


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into the container."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one agent container."""

    name: str
    image: str
    env: dict[str, str]
    mounts: list[Mount]
    labels: dict[str, str]
    user: str = "65534:65534"
    cpus: float = 1.0
    memory_bytes: int = 2 << 30
    pids_limit: int = 512
    shm_bytes: int = 64 << 20
    gpus: int = 0
    command: list[str] | None = None
    working_dir: str = "/home"
    extra: dict[str, str] = field(default_factory=dict)
    #: Bound on the engine's own copy of the output (json-file `max-size` per file, `max-file` files);
    #: 0 leaves the engine's default. The runner caps what it captures separately (see limits.py).
    log_max_bytes: int = 0
    log_max_files: int = 0
    #: Join this (network-none) container's network namespace instead of getting an empty one:
    #: how the agent shares its loopback with the run's model relay and nothing else.
    network_container: str | None = None


@dataclass(frozen=True)
class ContainerExit:
    """How a container ended."""

    exit_code: int
    oom_killed: bool


@dataclass(slots=True)
class OutputChunk:
    """Bytes the container wrote to one of its streams: one frame of its output, or (`frames` > 1)
    consecutive frames of one stream that each held exactly one whole line, merged by the log reader
    so that their lines are split in one pass (line k of `data` is then frame k)."""

    stream: Literal["stdout", "stderr"]
    data: bytes
    frames: int = 1

    def split(self) -> list[OutputChunk]:
        """The chunk as its frames, one each (a merged chunk's frames are its lines)."""
        if self.frames == 1:
            return [self]
        return [OutputChunk(self.stream, line + b"\n") for line in self.data.split(b"\n")[:-1]]


@dataclass(frozen=True)
class ContainerState:
    """What a restarted runner needs to know about a container it finds."""

    container_id: str
    labels: dict[str, str]
    #: created, running, exited, ... (the engine's word).
    status: str
    #: Seconds since the epoch when it started; None if it never started.
    started_at: float | None


class ContainerBackend(Protocol):
    """A container engine. Raises `ImageMissingError` for an absent image and `MleReduxError`
    subclasses with a clear message for an engine that does not answer."""

    async def start(self, spec: ContainerSpec) -> str:
        """Creates and starts a container; returns its id. Removes it again if start fails."""

    def output(self, container_id: str) -> AsyncIterator[list[OutputChunk]]:
        """Follows stdout and stderr from the container's start until it ends, yielding the frames
        that arrived together. Reading again from the start gives the same frames in the same order
        (a restarted runner counts frames to resume). Ends normally only at the end of the output;
        raises `MleReduxError` when the stream breaks (the caller may read again and skip)."""

    async def wait(self, container_id: str) -> ContainerExit:
        """Waits for the container to end; `ContainerGoneError` if it was removed."""

    async def kill(self, container_id: str) -> None:
        """Kills the container; no error if it has already ended."""

    async def remove(self, container_id: str) -> None:
        """Force-removes the container; no error if it is already gone."""

    async def start_existing(self, container_id: str) -> None:
        """Starts a container that was created but never started (a runner died in between)."""

    async def inspect(self, container_id: str) -> ContainerState | None:
        """The container's labels and state; None when it does not exist."""

    async def find(self, labels: dict[str, str]) -> list[str]:
        """Ids of containers (running or not) carrying all these labels."""

    async def close(self) -> None:
        """Releases the connection to the engine."""
