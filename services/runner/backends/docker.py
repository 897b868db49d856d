"""The Docker backend, through aiodocker.

Never `containers.run()` (it pulls a missing image): create, then start. Logs are read from the
engine's multiplexed log stream ourselves, because aiodocker's log helper drops the frame header
that says whether a frame came from stdout or stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import struct
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from typing import Any, TypeVar

import aiodocker
import aiohttp

from mleredux.errors import ImageMissingError, MleReduxError
from mleredux.names import check_image_reference
from services.runner.backends.base import (
    ContainerExit,
    ContainerGoneError,
    ContainerSpec,
    ContainerState,
    OutputChunk,
)
from services.runner.backends.docker_log_file import LogFileWatcher, follow_log_file
from services.runner.backends.docker_logs import LogStreamError, follow_logs

_HEADER = struct.Struct(">BxxxL")
_T = TypeVar("_T")
#: How long a create that was cut off is watched for the container it may still make.
CREATE_SETTLE_SECONDS = 5.0
#: How long a container whose log stream ended may still show as running before the stream is
#: taken as broken (the engine ends the stream a moment before it records the stop).
LOG_END_SETTLE_SECONDS = 2.0

#: How long one Engine API call may take (an inspect, create, start, kill, remove, list) before the
#: run is told the engine does not answer. Waiting for a container and following its log are not
#: bounded here: the run's time limit bounds them at the caller.
DEFAULT_CALL_TIMEOUT_SECONDS = 60.0
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _parse_time(text: str) -> float | None:
    """Docker's RFC 3339 time with nanoseconds → epoch seconds; None for its zero time (never started)."""
    match = _TIMESTAMP.match(text or "")
    if match is None or text.startswith("0001-"):
        return None
    whole, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float("0." + fraction) if fraction else 0.0)


class DockerUnavailableError(MleReduxError):
    """The Docker engine did not answer."""

    grpc_code = "UNAVAILABLE"


class DockerBackend:
    """Containers on the local Docker engine (or the one DOCKER_HOST names)."""

    def __init__(
        self, call_timeout_seconds: float = DEFAULT_CALL_TIMEOUT_SECONDS, *, read_log_files: bool = True
    ) -> None:
        self._docker: aiodocker.Docker | None = None
        self.call_timeout_seconds = call_timeout_seconds
        #: Whether output is read from the engine's log files on this host when they are readable
        #: (docker_log_file.py); otherwise, and when they are not, through the follow API.
        self.read_log_files = read_log_files
        self._watcher: LogFileWatcher | None = None
        self._containers_dir: str | None = None  # where the engine keeps containers; "" = not readable here
        #: One engine wait per container, shared by `wait` and the end of `output` (a second long
        #: request per run would double the connections held open, and aiohttp's pool is bounded).
        self._stops: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._stop_waiters: dict[str, int] = {}

    async def _call(self, what: str, call: Awaitable[_T]) -> _T:
        """One Engine API call, bounded: an engine that hangs (or a stream that never ends) cannot
        hold a run, and with it its share of the runner's capacity."""
        try:
            async with asyncio.timeout(self.call_timeout_seconds):
                return await call
        except TimeoutError:
            raise DockerUnavailableError(
                f"the Docker engine did not answer {what} within {self.call_timeout_seconds:g}s"
            ) from None

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            self._docker = aiodocker.Docker()
        return self._docker

    def _config(self, spec: ContainerSpec) -> dict[str, Any]:
        host_config: dict[str, Any] = {
            "NetworkMode": f"container:{spec.network_container}" if spec.network_container else "none",
            "Binds": [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts],
            "Memory": spec.memory_bytes,
            "MemorySwap": spec.memory_bytes,  # equal to Memory: no swap, so the limit is real
            "NanoCpus": int(spec.cpus * 1e9),
            "PidsLimit": spec.pids_limit,
            "ShmSize": spec.shm_bytes,
            "Init": True,  # PID 1 forwards signals, so a stop takes milliseconds
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            # The json-file driver keeps the whole output replayable from the start with stable frame
            # boundaries, which is how a restarted runner resumes (whatever the daemon's default is).
            # json-file so a restarted runner can replay the output; bounded so one run cannot fill the host.
            "LogConfig": {
                "Type": "json-file",
                "Config": (
                    {"max-size": str(spec.log_max_bytes), "max-file": str(max(spec.log_max_files, 1))}
                    if spec.log_max_bytes
                    else {}
                ),
            },
        }
        if spec.gpus:
            host_config["DeviceRequests"] = [{"Driver": "", "Count": spec.gpus, "Capabilities": [["gpu"]]}]
        config: dict[str, Any] = {
            "Image": spec.image,
            "Env": [f"{k}={v}" for k, v in spec.env.items()],
            "Labels": spec.labels,
            "User": spec.user,
            "WorkingDir": spec.working_dir,
            "NetworkDisabled": spec.network_container is None,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "HostConfig": host_config,
        }
        if spec.command is not None:
            config["Cmd"] = spec.command
        return config

    async def start(self, spec: ContainerSpec) -> str:
        # The reference goes into an Engine API URL unquoted (aiodocker pastes it): checked first.
        check_image_reference(spec.image)
        try:
            await self._call(f"an inspection of image {spec.image!r}", self.docker.images.inspect(spec.image))
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
            container = await self._call(
                "a container create", self.docker.containers.create(self._config(spec), name=spec.name)
            )
        except aiodocker.DockerError as exc:
            raise DockerUnavailableError(f"cannot create container for {spec.image!r}: {exc.message}") from exc
        except BaseException:
            # Cancelled or timed out mid-create: the engine may have made it, or may still be making
            # it (it finishes a create whose caller hung up); it goes, by name, once it exists.
            await asyncio.shield(self._remove_once_created(spec.name))
            raise
        try:
            await self._call("a container start", container.start())
        except aiodocker.DockerError as exc:
            await asyncio.shield(self._remove_quietly(container.id))
            raise DockerUnavailableError(f"cannot start container for {spec.image!r}: {exc.message}") from exc
        except BaseException:
            await asyncio.shield(self._remove_quietly(container.id))
            raise
        return str(container.id)

    async def _remove_once_created(self, name: str) -> None:
        """Removes the container `name` as soon as the engine shows it, looking for up to
        `CREATE_SETTLE_SECONDS` (a create cut off on our side may still complete on the engine's)."""
        deadline = asyncio.get_running_loop().time() + CREATE_SETTLE_SECONDS
        while True:
            with contextlib.suppress(MleReduxError, aiodocker.DockerError, aiohttp.ClientError, OSError):
                if await self.inspect(name) is not None:
                    await self.remove(name)
                    return
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.25)

    async def _log_ended(self, container_id: str) -> None:
        """A followed log ends with its container: one that ended while the container runs broke
        (over HTTP/1.0 the stream has no end marker of its own), and `LogStreamError` has it read
        again. The engine closes the stream just before it records the stop, so the stop is waited
        for (the engine's own wait, which answers the moment it happens) for a moment first."""
        state = await self.inspect(container_id)
        if state is None or state.status not in ("running", "paused"):
            return
        try:
            async with asyncio.timeout(LOG_END_SETTLE_SECONDS):
                await self._wait_stopped(container_id)  # shared with `wait`: no second request
        except TimeoutError:
            raise LogStreamError(
                f"the log stream of container {container_id[:12]} ended while the container is still {state.status}"
            ) from None
        except aiodocker.DockerError as exc:
            if exc.status != 404:  # gone: its log has ended for good
                raise DockerUnavailableError(f"cannot wait for container {container_id[:12]}: {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DockerUnavailableError(f"Docker engine does not answer: {exc}") from exc

    async def _remove_quietly(self, name_or_id: str) -> None:
        with contextlib.suppress(MleReduxError, aiodocker.DockerError, aiohttp.ClientError, OSError):
            await self.remove(name_or_id)

    async def _wait_stopped(self, container_id: str) -> dict[str, Any]:
        """The engine's wait for `container_id`, one request however many callers wait at once
        (the request is cancelled when the last of them stops waiting)."""
        task = self._stops.get(container_id)
        if task is None or task.done():
            task = asyncio.ensure_future(self.docker.containers.container(container_id).wait())
            self._stops[container_id] = task
            self._stop_waiters[container_id] = 0
        self._stop_waiters[container_id] += 1
        try:
            return await asyncio.shield(task)
        finally:
            self._stop_waiters[container_id] -= 1
            if self._stop_waiters[container_id] == 0 and self._stops.get(container_id) is task:
                del self._stops[container_id], self._stop_waiters[container_id]
                task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: nobody else will

    async def _log_stopped(self, container_id: str) -> None:
        """Returns once the container is no longer running (or is gone); its log file is then complete."""
        try:
            await self._wait_stopped(container_id)
        except aiodocker.DockerError as exc:
            if exc.status != 404:  # gone: its log has ended for good
                raise DockerUnavailableError(f"cannot wait for container {container_id[:12]}: {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DockerUnavailableError(f"Docker engine does not answer: {exc}") from exc

    async def _log_file(self, container_id: str) -> str | None:
        """The path of the container's json-file log if this process can read the engine's files."""
        if not self.read_log_files or not isinstance(self.docker.connector, aiohttp.UnixConnector):
            return None
        if self._containers_dir is None:
            self._containers_dir = ""
            try:
                info = await self._call("a system info", self.docker.system.info())
                directory = os.path.join(str(info.get("DockerRootDir", "")), "containers")
                if info.get("DockerRootDir") and os.access(directory, os.R_OK | os.X_OK):
                    self._watcher = LogFileWatcher()
                    self._containers_dir = directory
            except (MleReduxError, aiodocker.DockerError, aiohttp.ClientError, OSError):
                pass  # the follow API it is
        if not self._containers_dir or not re.fullmatch(r"[0-9a-f]{64}", container_id):
            return None
        return os.path.join(self._containers_dir, container_id, f"{container_id}-json.log")

    async def output(self, container_id: str) -> AsyncIterator[list[OutputChunk]]:  # type: ignore[override]
        # Following from the start replays everything written so far, then streams until exit.
        path = await self._log_file(container_id)
        if path is not None and self._watcher is not None:
            yielded = False
            try:
                async for batch in follow_log_file(self._watcher, path, lambda: self._log_stopped(container_id)):
                    yielded = True
                    yield batch
                return
            except OSError as exc:
                if yielded:
                    raise LogStreamError(f"the log file of container {container_id[:12]} broke: {exc}") from exc
                # Not readable here (another driver, a removed container): the API says which.
        connector = self.docker.connector
        if isinstance(connector, aiohttp.UnixConnector):
            # The fast path: the socket read in large blocks (see docker_logs.py).
            async for batch in follow_logs(connector.path, container_id):
                yield batch
            await self._log_ended(container_id)
            return
        params = {"stdout": "1", "stderr": "1", "follow": "1"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        try:
            async with self.docker._query(
                f"containers/{container_id}/logs", method="GET", params=params, timeout=timeout
            ) as response:
                content = response.content
                buffer = bytearray()
                while True:
                    data = await content.readany()
                    if not data:
                        break
                    buffer += data
                    frames: list[OutputChunk] = []
                    position, size = 0, len(buffer)
                    while size - position >= _HEADER.size:
                        stream_id, length = _HEADER.unpack_from(buffer, position)
                        end = position + _HEADER.size + length
                        if end > size:
                            break
                        data = bytes(buffer[position + _HEADER.size : end])
                        frames.append(OutputChunk("stderr", data) if stream_id == 2 else OutputChunk("stdout", data))
                        position = end
                    if position:
                        del buffer[:position]
                    if frames:
                        yield frames
                if buffer:
                    raise DockerUnavailableError(f"the log stream of container {container_id[:12]} broke mid-frame")
        except aiodocker.DockerError as exc:
            raise DockerUnavailableError(
                f"cannot read the logs of container {container_id[:12]}: {exc.message}"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DockerUnavailableError(f"the log stream of container {container_id[:12]} broke: {exc}") from exc

    async def wait(self, container_id: str) -> ContainerExit:
        container = self.docker.containers.container(container_id)
        try:
            result = await self._wait_stopped(container_id)  # bounded by the run's time limit at the caller
            info = await self._call(f"an inspection of container {container_id[:12]}", container.show())
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                raise ContainerGoneError(f"container {container_id[:12]} was removed outside the runner") from exc
            raise DockerUnavailableError(f"cannot wait for container {container_id[:12]}: {exc.message}") from exc
        state = info.get("State", {})
        return ContainerExit(
            exit_code=int(result.get("StatusCode", state.get("ExitCode", -1))),
            oom_killed=bool(state.get("OOMKilled", False)),
        )

    async def kill(self, container_id: str) -> None:
        try:
            await self._call(
                f"a kill of container {container_id[:12]}", self.docker.containers.container(container_id).kill()
            )
        except aiodocker.DockerError as exc:
            if exc.status not in (404, 409):  # gone, or not running
                raise

    async def remove(self, container_id: str) -> None:
        try:
            await self._call(
                f"a removal of container {container_id[:12]}",
                self.docker.containers.container(container_id).delete(force=True, v=True),
            )
        except aiodocker.DockerError as exc:
            if exc.status not in (404, 409):  # 409: removal already in progress
                raise

    async def start_existing(self, container_id: str) -> None:
        try:
            await self._call(
                f"a start of container {container_id[:12]}", self.docker.containers.container(container_id).start()
            )
        except aiodocker.DockerError as exc:
            raise DockerUnavailableError(f"cannot start container {container_id[:12]}: {exc.message}") from exc

    async def inspect(self, container_id: str) -> ContainerState | None:
        try:
            info = await self._call(
                f"an inspection of container {container_id[:12]}", self.docker.containers.container(container_id).show()
            )
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return None
            raise DockerUnavailableError(f"cannot inspect container {container_id[:12]}: {exc.message}") from exc
        state = info.get("State", {})
        return ContainerState(
            container_id=str(info.get("Id", container_id)),
            labels=dict(info.get("Config", {}).get("Labels") or {}),
            status=str(state.get("Status", "")),
            started_at=_parse_time(str(state.get("StartedAt", ""))),
        )

    async def find(self, labels: dict[str, str]) -> list[str]:
        filters = json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]})
        try:
            containers = await self._call("a container list", self.docker.containers.list(all=True, filters=filters))
        except aiodocker.DockerError as exc:
            raise DockerUnavailableError(f"cannot list containers: {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DockerUnavailableError(f"Docker engine does not answer: {exc}") from exc
        return [str(c.id) for c in containers]

    async def close(self) -> None:
        for task in self._stops.values():
            task.cancel()
        self._stops.clear()
        self._stop_waiters.clear()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
            self._containers_dir = None
        if self._docker is not None:
            await self._docker.close()
            self._docker = None
