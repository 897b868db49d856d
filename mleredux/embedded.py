"""The embedded default: the four services as separate processes on loopback.

`EmbeddedStack` starts grader, preparer, runner and gateway (in that order, each told where the ones
before it listen), waits for each to print its `listening on HOST:PORT` line, and stops them all
with SIGTERM (then SIGKILL after a grace period). Children also get SIGTERM from the kernel if the
launcher itself dies (PR_SET_PDEATHSIG), so a kill -9 of `mleredux up` leaves no service behind.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mleredux.config import Home
from mleredux.errors import MleReduxError
from mleredux.parent_death import die_with_parent
from mleredux.service_logs import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, ServiceLog

SERVICES = ("grader", "preparer", "runner", "gateway")
#: CPU priorities (`serve --cpu-nice`). Each service runs in a session of its own, so these weigh its
#: scheduling group against the Docker daemon's and the clients' (services/cpu_priority.py). On a
#: saturated machine the API answers first (about 9x a default group's weight), then the runner
#: streams (about 3x; Docker's logging and the agents take the rest).
GATEWAY_CPU_NICE = -10
RUNNER_CPU_NICE = -5


class StackError(MleReduxError):
    """A service of the embedded stack did not start or died."""


@dataclass
class ServiceProcess:
    """One running service."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path
    #: The gateway's HTTP/JSON API and viewer (empty for the other services).
    http_address: str = ""
    #: Where its stdout and stderr are pumped (rotated, repeats collapsed).
    log: ServiceLog | None = None
    #: Where its Prometheus metrics are served (empty unless started with --metrics-listen).
    metrics_address: str = ""


@dataclass
class EmbeddedStack:
    """Four service processes sharing one home (data dir, local store, SQLite)."""

    home: Home
    gateway_listen: str = "127.0.0.1:0"
    #: The gateway's HTTP/JSON API and run viewer; None serves gRPC only.
    gateway_http_listen: str | None = "127.0.0.1:0"
    start_timeout: float = 60.0
    #: Each service's log file is rotated at this size, with `log_backups` older files kept.
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_backups: int = DEFAULT_BACKUPS
    #: More `serve` flags per service name (e.g. {"gateway": ["--max-concurrent", "16"]}).
    extra_args: dict[str, list[str]] = field(default_factory=dict)
    #: The operator's model endpoints file for the runner (`mleredux up --models FILE`).
    models_file: Path | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def gateway_address(self) -> str:
        return self.services["gateway"].address

    @property
    def http_address(self) -> str:
        """HOST:PORT of the gateway's HTTP/JSON API and run viewer."""
        return self.services["gateway"].http_address

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
                # One machine: the runner may clone the user's own local repositories.
                "--allow-file-git",
                "--cpu-nice",
                str(RUNNER_CPU_NICE),
            ]
        http = ["--http-listen", self.gateway_http_listen] if self.gateway_http_listen else []
        return [
            *base,
            *http,
            "--cpu-nice",
            str(GATEWAY_CPU_NICE),
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

    def _spawn(self, name: str, listen: str | None = None) -> ServiceProcess:
        log_dir = self.home.root / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        command = [*self._command(name), *self.extra_args.get(name, [])]
        if listen is not None:
            command[command.index("--listen") + 1] = listen
        # Python code between fork and exec (preexec_fn) can crash the child when other threads (gRPC's)
        # run in this process; util-linux's setpriv sets the same parent-death signal without it.
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        # Through a pipe, not straight into the file: what a service writes (tracebacks, C-level
        # messages) is bounded here, whatever it is, by rotation and repeat collapsing.
        log = ServiceLog(log_path, max_bytes=self.log_max_bytes, backups=self.log_backups)
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=None if setpriv is not None else die_with_parent,
            env={**os.environ, "MLEREDUX_MODELS_FILE": str(self.models_file)}
            if name == "runner" and self.models_file is not None
            else None,
            # Unbuffered: select() sees only the pipe, so a second line already read into a buffer
            # (the gateway prints its HTTP address just before `listening on`) would never be noticed.
            bufsize=0,
            # A session, and so a CPU scheduling group, of its own: Linux shares a busy CPU between
            # groups first, and the services' shares must not depend on the shell that started them
            # (a terminal's Ctrl-C reaches `up`, which stops them in order).
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        log.pump(process.stderr, f"{name}-stderr")
        deadline = time.monotonic() + self.start_timeout
        line = b""
        http_address = metrics_address = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                if line.startswith(b"http listening on "):
                    http_address = line.decode().split()[-1]
                if line.startswith(b"metrics listening on "):
                    metrics_address = line.decode().split()[-1]
                if line.startswith(b"listening on "):
                    break
                if not line:  # EOF: the process died
                    break
            elif process.poll() is not None:
                break
        if not line.startswith(b"listening on "):
            process.kill()
            process.wait()
            process.stdout.close()
            log.close()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise StackError(
                f"the {name} service did not start (exit code {process.returncode}); last lines of {log_path}:\n"
                + "\n".join(tail)
            )
        # Read on, so a service printing to stdout later never blocks on a full pipe.
        log.pump(process.stdout, f"{name}-stdout")
        return ServiceProcess(name, process, line.decode().split()[-1], log_path, http_address, log, metrics_address)

    def start(self) -> None:
        self.home.root.mkdir(parents=True, exist_ok=True)
        try:
            for name in SERVICES:
                self.services[name] = self._spawn(name)
        except BaseException:
            self.stop()
            raise
        self.home.gateway_file.write_text(self.gateway_address + "\n")

    def restart(self, name: str) -> ServiceProcess:
        """Starts a service that died (or was killed) again at the address it had, where the other
        services keep looking for it."""
        old = self.services[name]
        if old.process.poll() is None:
            raise StackError(f"the {name} service is still running (pid {old.process.pid})")
        if old.log is not None:
            old.log.close()
        self.services[name] = self._spawn(name, listen=old.address)
        return self.services[name]

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
            if service.log is not None:
                service.log.close()  # the pumps end at EOF, now that the process is gone
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
