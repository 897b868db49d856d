"""The embedded default: the four services as separate processes on loopback.

`EmbeddedStack` starts grader, preparer, runner and gateway (in that order, each told where the ones
before it listen), waits for each to print its `listening on HOST:PORT` line, and stops them all
with SIGTERM (then SIGKILL after a grace period). Children also get SIGTERM from the kernel if the
launcher itself dies (PR_SET_PDEATHSIG), so a kill -9 of `mleredux up` leaves no service behind.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mleredux.config import Home
from mleredux.errors import MleReduxError

SERVICES = ("grader", "preparer", "runner", "gateway")


class StackError(MleReduxError):
    """A service of the embedded stack did not start or died."""


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG = 1: the kernel sends SIGTERM to this child when its parent exits.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class ServiceProcess:
    """One running service."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path


@dataclass
class EmbeddedStack:
    """Four service processes sharing one home (data dir, local store, SQLite)."""

    home: Home
    gateway_listen: str = "127.0.0.1:0"
    start_timeout: float = 60.0
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def gateway_address(self) -> str:
        return self.services["gateway"].address

    @property
    def admin_token(self) -> str:
        """The admin token the gateway wrote into this home when it first started."""
        try:
            return self.home.admin_token_file.read_text().strip()
        except OSError as exc:
            raise MleReduxError(f"the gateway wrote no admin token at {self.home.admin_token_file}: {exc}") from None

    def _command(self, name: str) -> list[str]:
        home = self.home
        base = [sys.executable, "-m", "mleredux", "serve", name]
        if name == "grader":
            return [*base, "--listen", "127.0.0.1:0", "--data-dir", str(home.data_dir), "--store", home.store_url]
        if name == "preparer":
            return [*base, "--listen", "127.0.0.1:0", "--data-dir", str(home.data_dir), "--store", home.store_url]
        if name == "runner":
            return [
                *base,
                "--listen",
                "127.0.0.1:0",
                "--work-dir",
                str(home.runner_work_dir),
                "--store",
                home.store_url,
                "--grader",
                self.services["grader"].address,
            ]
        return [
            *base,
            "--listen",
            self.gateway_listen,
            "--db",
            str(home.db_path),
            "--store",
            home.store_url,
            "--preparer",
            self.services["preparer"].address,
            "--runner",
            self.services["runner"].address,
            "--grader",
            self.services["grader"].address,
        ]

    def _spawn(self, name: str) -> ServiceProcess:
        log_dir = self.home.root / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        log = log_path.open("ab")
        process = subprocess.Popen(
            self._command(name),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        assert process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                if line.startswith(b"listening on "):
                    break
                if not line:  # EOF: the process died
                    break
            elif process.poll() is not None:
                break
        if not line.startswith(b"listening on "):
            process.kill()
            process.wait()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise StackError(f"the {name} service did not start; last lines of {log_path}:\n" + "\n".join(tail))
        return ServiceProcess(name, process, line.decode().split()[-1], log_path)

    def start(self) -> None:
        self.home.root.mkdir(parents=True, exist_ok=True)
        try:
            for name in SERVICES:
                self.services[name] = self._spawn(name)
        except BaseException:
            self.stop()
            raise
        self.home.gateway_file.write_text(self.gateway_address + "\n")

    def dead(self) -> list[str]:
        """Services whose process has exited."""
        return [s.name for s in self.services.values() if s.process.poll() is not None]

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM in reverse start order (the gateway first, so no new work arrives), then wait."""
        for service in reversed(list(self.services.values())):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
                try:
                    service.process.wait(grace)
                except subprocess.TimeoutExpired:
                    service.process.kill()
                    service.process.wait()
            if service.process.stdout is not None:
                service.process.stdout.close()
        self.services.clear()
        try:
            if self.home.gateway_file.exists():
                self.home.gateway_file.unlink()
        except OSError:
            pass

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive
