"""`mleredux up`: four service processes; SIGTERM or a kill -9 of the launcher leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _start_up(home: Path) -> tuple[subprocess.Popen[str], dict[str, int], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mleredux",
            "--home",
            str(home),
            "up",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    pids: dict[str, int] = {}
    gateway = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.match(r"\s*(\w+): (\S+) \(pid (\d+),", line)
        if match:
            pids[match.group(1)] = int(match.group(3))
        if line.startswith("gateway listening on "):
            gateway = line.split()[-1]
            break
    if not gateway:
        process.kill()
        pytest.fail(f"`mleredux up` did not start: {process.stdout.read()}")
    return process, pids, gateway


def _group_nice(pid: int) -> int:
    """The nice value of the process's scheduling group ("/autogroup-N nice K")."""
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a dead parent's init) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _gateway_serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_up_starts_four_processes_and_stops_them_all(tmp_path: Path, how: str, docker_engine: None) -> None:
    process, pids, gateway = _start_up(tmp_path / "home")
    assert sorted(pids) == ["gateway", "grader", "preparer", "runner"]
    assert len(set(pids.values())) == 4 and process.pid not in pids.values()
    assert _gateway_serving(gateway)
    assert (tmp_path / "home" / "gateway.address").read_text().strip() == gateway
    # Each service leads a session (a CPU scheduling group) of its own; the gateway's and runner's weigh more.
    assert all(os.getsid(pid) == pid for pid in pids.values())
    for name, nice in (("gateway", -10), ("runner", -5), ("grader", 0), ("preparer", 0)):
        assert (_group_nice(pids[name]), os.getpriority(os.PRIO_PROCESS, pids[name])) == (nice, nice), name
    process.send_signal(getattr(signal, how))
    code = process.wait(60)
    assert _wait_gone(list(pids.values())) == []
    if how != "SIGKILL":
        assert code == 0
        assert not (tmp_path / "home" / "gateway.address").exists()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_a_sigterm_while_the_services_start_stops_them_cleanly(tmp_path: Path, docker_engine: None) -> None:
    # A supervisor may stop `up` at any moment, its start-up included. The launcher takes the signal
    # once its first service is spawned (the handlers are in place before that), finishes starting
    # and stops everything in order; Python's default action used to kill it there, skipping the stop.
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "mleredux", "--home", str(home), "up", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while not _children(process.pid) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    children = _children(process.pid)
    assert children, "`mleredux up` started no service"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert "stopping (SIGTERM)" in out
    assert _wait_gone(children) == []
    assert not (home / "gateway.address").exists()
