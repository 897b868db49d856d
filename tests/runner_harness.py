"""A runner service as a real process, for tests (and benchmarks) that kill, restart or configure it.

The session `stack` fixture runs a runner too, but a test that kills the runner, points it at a store
it stops, or gives it a small budget needs its own. Requests go straight to its gRPC API (no gateway),
with a small local dataset dir, so these tests need neither the preparer nor the grader: the grader
address is a closed port, and the dummy agent's validation call is answered "validation unavailable".
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from mleredux.v1 import common_pb2, competitions_pb2, runner_pb2, runner_pb2_grpc
from services.server import CHANNEL_OPTIONS
from tests.conftest import free_port

RunState = common_pb2.RunState


def make_public_dir(root: Path) -> Path:
    """A dataset dir as the preparer would leave it (the dummy agent copies its sample submission)."""
    public = root / "public"
    public.mkdir(parents=True, exist_ok=True)
    (public / "sample_submission.csv").write_text("id,label\n" + "".join(f"{i},0\n" for i in range(50)))
    (public / "description.md").write_text("# a test dataset\n")
    return public


@dataclass
class RunnerProcess:
    """`mleredux serve runner` on a fixed loopback port (kept across restarts)."""

    work_dir: Path
    store_url: str
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir.parent / f"runner-{self.port}.log"

    def start(self, timeout: float = 60.0) -> None:
        command = [
            sys.executable,
            "-m",
            "mleredux",
            "serve",
            "runner",
            "--listen",
            self.address,
            "--work-dir",
            str(self.work_dir),
            "--store",
            self.store_url,
            "--grader",
            f"127.0.0.1:{free_port()}",
            *self.extra_args,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                bufsize=0,
            )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith(b"listening on "):
                    return
                if not line:
                    break
            elif self.process.poll() is not None:
                break
        self.process.kill()
        self.process.wait()
        raise RuntimeError(f"the runner did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs; its containers keep running."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close()

    def stop(self) -> None:
        """SIGTERM: the runner cancels its runs and removes their containers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()

    def _close(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)


def execute_request(
    run_id: str,
    image: str,
    public_dir: Path,
    *,
    first_seq: int = 1,
    compute: common_pb2.ComputeProfile | None = None,
    **env: str,
) -> runner_pb2.ExecuteRunRequest:
    return runner_pb2.ExecuteRunRequest(
        run_id=run_id,
        image=image,
        competition_id="test-dataset",
        dataset=competitions_pb2.Dataset(local_public_dir=str(public_dir)),
        compute=compute or common_pb2.ComputeProfile(cpus=0.5, memory_bytes=256 << 20, time_limit_seconds=120),
        first_seq=first_seq,
        env=env,
    )


async def collect(
    stream: AsyncIterator[runner_pb2.ExecuteRunResponse] | AsyncIterator[runner_pb2.AttachRunResponse],
    into: list[common_pb2.RunEvent],
    until: Callable[[common_pb2.RunEvent], bool] | None = None,
) -> bool:
    """Appends the stream's events to `into`; stops early (True) after the batch holding an event
    `until` accepts (the rest of that batch is kept: the stream continues after it)."""
    async for batch in stream:
        into.extend(batch.events)
        if until is not None and any(until(event) for event in batch.events):
            return True
    return False


def stub(channel: grpc.aio.Channel) -> runner_pb2_grpc.RunnerServiceStub:
    return runner_pb2_grpc.RunnerServiceStub(channel)


def log_lines(events: list[common_pb2.RunEvent], stream: int = common_pb2.LogStream.LOG_STREAM_STDOUT) -> list[str]:
    return [e.log_line.text for e in events if e.HasField("log_line") and e.log_line.stream == stream]


def statuses(events: list[common_pb2.RunEvent]) -> list[common_pb2.StatusChange]:
    return [e.status_change for e in events if e.HasField("status_change")]


def runner_containers(runner_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=mleredux.runner={runner_id}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()
