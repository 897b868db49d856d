"""The Docker backend, through aiodocker.

Never `containers.run()` (it pulls a missing image): create, then start. Logs are read from the
engine's multiplexed log stream ourselves, because aiodocker's log helper drops the frame header
that says whether a frame came from stdout or stderr.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import aiohttp

from mleredux.errors import ImageMissingError, MleReduxError
from services.runner.backends.base import ContainerExit, ContainerSpec, OutputChunk

_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: "stdout", 2: "stderr"}


class DockerUnavailableError(MleReduxError):
    """The Docker engine did not answer."""

    grpc_code = "UNAVAILABLE"


class DockerBackend:
    """Containers on the local Docker engine (or the one DOCKER_HOST names)."""

    def __init__(self) -> None:
        self._docker: aiodocker.Docker | None = None

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            self._docker = aiodocker.Docker()
        return self._docker

    def _config(self, spec: ContainerSpec) -> dict[str, Any]:
        host_config: dict[str, Any] = {
            "NetworkMode": "none",
            "Binds": [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts],
            "Memory": spec.memory_bytes,
            "MemorySwap": spec.memory_bytes,  # equal to Memory: no swap, so the limit is real
            "NanoCpus": int(spec.cpus * 1e9),
            "PidsLimit": spec.pids_limit,
            "ShmSize": spec.shm_bytes,
            "Init": True,  # PID 1 forwards signals, so a stop takes milliseconds
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
        }
        if spec.gpus:
            host_config["DeviceRequests"] = [{"Driver": "", "Count": spec.gpus, "Capabilities": [["gpu"]]}]
        config: dict[str, Any] = {
            "Image": spec.image,
            "Env": [f"{k}={v}" for k, v in spec.env.items()],
            "Labels": spec.labels,
            "User": spec.user,
            "WorkingDir": spec.working_dir,
            "NetworkDisabled": True,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "HostConfig": host_config,
        }
        if spec.command is not None:
            config["Cmd"] = spec.command
        return config

    async def start(self, spec: ContainerSpec) -> str:
        try:
            await self.docker.images.inspect(spec.image)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise ImageMissingError(
                    f"image {spec.image!r} is not on this Docker host (images are never pulled; "
                    "build it with `mleredux images build`)"
                ) from exc
            raise DockerUnavailableError(f"Docker engine error inspecting {spec.image!r}: {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DockerUnavailableError(f"Docker engine does not answer: {exc}") from exc
        try:
            container = await self.docker.containers.create(self._config(spec), name=spec.name)
        except aiodocker.DockerError as exc:
            raise DockerUnavailableError(f"cannot create container for {spec.image!r}: {exc.message}") from exc
        try:
            await container.start()
        except aiodocker.DockerError as exc:
            await self.remove(container.id)
            raise DockerUnavailableError(f"cannot start container for {spec.image!r}: {exc.message}") from exc
        return str(container.id)

    async def output(self, container_id: str) -> AsyncIterator[OutputChunk]:  # type: ignore[override]
        # Following from the start replays everything written so far, then streams until exit.
        params = {"stdout": "1", "stderr": "1", "follow": "1"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.docker._query(
            f"containers/{container_id}/logs", method="GET", params=params, timeout=timeout
        ) as response:
            content = response.content
            while True:
                try:
                    header = await content.readexactly(_HEADER.size)
                    stream_id, length = _HEADER.unpack(header)
                    data = await content.readexactly(length) if length else b""
                except (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError):
                    return
                except Exception as exc:
                    # IncompleteReadError: the stream ended (container gone).
                    if type(exc).__name__ == "IncompleteReadError":
                        return
                    raise
                if data:
                    yield OutputChunk(stream=_STREAMS.get(stream_id, "stdout"), data=data)  # type: ignore[arg-type]

    async def wait(self, container_id: str) -> ContainerExit:
        container = self.docker.containers.container(container_id)
        result = await container.wait()
        info = await container.show()
        state = info.get("State", {})
        return ContainerExit(
            exit_code=int(result.get("StatusCode", state.get("ExitCode", -1))),
            oom_killed=bool(state.get("OOMKilled", False)),
        )

    async def kill(self, container_id: str) -> None:
        try:
            await self.docker.containers.container(container_id).kill()
        except aiodocker.DockerError as exc:
            if exc.status not in (404, 409):  # gone, or not running
                raise

    async def remove(self, container_id: str) -> None:
        try:
            await self.docker.containers.container(container_id).delete(force=True, v=True)
        except aiodocker.DockerError as exc:
            if exc.status not in (404, 409):  # 409: removal already in progress
                raise

    async def find(self, labels: dict[str, str]) -> list[str]:
        filters = json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]})
        containers = await self.docker.containers.list(all=True, filters=filters)
        return [str(c.id) for c in containers]

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None
