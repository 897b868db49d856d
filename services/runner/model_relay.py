"""The relay container that gives a run's agent a loopback model API without a network.

A tiny image holding only our static `mleredux-model-relay` (agent_images/model_relay, C, built
here with `gcc -static` and `docker import`ed under a tag named after its source's hash). Per run,
the relay container starts first, with network mode `none` and the run's model socket directory
mounted; the agent's container then joins the relay's network namespace, so both share one `lo`
and nothing else: 127.0.0.1:RELAY_PORT in the agent reaches the relay, which pipes each connection
to the runner's unix socket. Nothing is added to the agent's image.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import tempfile
from pathlib import Path

from mleredux.errors import MleReduxError
from services.runner.backends.base import ContainerSpec, Mount

RELAY_SOURCE = Path(__file__).resolve().parents[2] / "agent_images" / "model_relay" / "mleredux-model-relay.c"
RELAY_REPOSITORY = "mleredux-model-relay"
#: Where the agent finds the model API (its own loopback: the namespace is the run's alone).
RELAY_PORT = 8400
#: Where the relay container sees the run's model socket directory.
RELAY_SOCKET_DIR = "/run/mleredux-models"
MODEL_SOCKET_NAME = "model.sock"
RELAY_LABEL = "mleredux.model_relay_of"
#: The runner that owns a relay (a restarted runner removes the relays of runs it no longer has).
RELAY_RUNNER_LABEL = "mleredux.model_relay_runner"
#: A relay forks one process per open connection: this bounds a run's concurrent model calls.
RELAY_PIDS_LIMIT = 128


class RelayImageError(MleReduxError):
    """The relay image could not be built on this host."""

    grpc_code = "FAILED_PRECONDITION"


def relay_tag() -> str:
    digest = hashlib.sha256(RELAY_SOURCE.read_bytes()).hexdigest()[:12]
    return f"{RELAY_REPOSITORY}:{digest}"


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, timeout=120, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def build_relay_image() -> str:
    """The relay image's tag, building it first when this host does not have it (about a second)."""
    tag = relay_tag()
    if _run(["docker", "image", "inspect", tag]).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="mleredux-relay.") as work:
        root = Path(work) / "root"
        (root / "bin").mkdir(parents=True)
        binary = root / "bin" / "mleredux-model-relay"
        compiled = _run(["gcc", "-static", "-O2", "-s", "-o", str(binary), str(RELAY_SOURCE)])
        if compiled.returncode != 0:
            raise RelayImageError(
                f"cannot compile the model relay (gcc and libc6-dev needed): {compiled.stderr.decode()[-400:]}"
            )
        archive = Path(work) / "root.tar"
        _run(["tar", "-C", str(root), "--numeric-owner", "--owner=0", "--group=0", "-cf", str(archive), "."])
        imported = _run(
            ["docker", "import", "-c", 'CMD ["/bin/mleredux-model-relay"]', str(archive), tag],
        )
        if imported.returncode != 0:
            raise RelayImageError(f"docker import of the model relay failed: {imported.stderr.decode()[-400:]}")
    return tag


class RelayImage:
    """Builds the relay image once per runner process, on first need."""

    def __init__(self) -> None:
        self._tag: str | None = None
        self._lock = asyncio.Lock()

    async def tag(self) -> str:
        async with self._lock:
            if self._tag is None:
                self._tag = await asyncio.to_thread(build_relay_image)
            return self._tag


def relay_spec(run_id: str, image: str, socket_dir: Path, runner_id: str, join: str | None = None) -> ContainerSpec:
    """The relay's container; `join` puts it in that (agent) container's namespace instead of its own
    (a restarted runner replacing a relay that died)."""
    return ContainerSpec(
        name=f"mleredux-{run_id}-models",
        image=image,
        env={},
        mounts=[Mount(str(socket_dir), RELAY_SOCKET_DIR, read_only=True)],
        labels={RELAY_LABEL: run_id, RELAY_RUNNER_LABEL: runner_id},
        cpus=0.5,
        memory_bytes=64 << 20,
        pids_limit=RELAY_PIDS_LIMIT,
        shm_bytes=1 << 20,
        command=["/bin/mleredux-model-relay", str(RELAY_PORT), f"{RELAY_SOCKET_DIR}/{MODEL_SOCKET_NAME}"],
        working_dir="/",
        network_container=join,
    )
