"""A hostile agent: attacks its own validation socket, then behaves and submits.

Each attack prints one `attack NAME: {json}` line (the test reads them from the run's events):

- flood: 20,000 non-blocking connections as fast as possible, every one that connects held open;
- held: what became of them (answered 429 and closed, closed idle, still open) over time;
- huge-declared: a head announcing a 450 MiB body;
- stalled-body: four connections each starting a 90 MiB body, all stalled half way;
- slow-head and big-head: a head that never ends, and one of 100 KiB;
- after: a normal validation of the sample submission once it is all over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import shutil
import socket
import time

SOCKET = os.environ.get("MLEREDUX_GRADER_SOCKET", "/run/mleredux/grader.sock")
MIB = 1 << 20


def report(name: str, value: object) -> None:
    print(f"attack {name}: {json.dumps(value, sort_keys=True)}", flush=True)


def connect(blocking: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(blocking)
    try:
        sock.connect(SOCKET)
    except BaseException:
        sock.close()
        raise
    return sock


def read_reply(sock: socket.socket, timeout: float = 30.0) -> tuple[int, str, float]:
    """(status, message, seconds until the socket answered or closed); status 0: closed silently."""
    start = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                if len(body) >= length:
                    break
    seconds = round(time.monotonic() - start, 2)
    if not data:
        return 0, "", seconds
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        message = str(json.loads(body)["message"])
    except (ValueError, KeyError):
        message = body.decode(errors="replace")
    return status, message, seconds


def state(sock: socket.socket) -> str:
    try:
        data = sock.recv(65536, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return "open"
    except OSError:
        return "closed"
    if not data:
        return "closed"
    return "429" if b" 429 " in data else "answered"


def flood() -> list[socket.socket]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held: list[socket.socket] = []
    outcomes: dict[str, int] = {}
    start = time.monotonic()
    for _ in range(20_000):
        try:
            held.append(connect(blocking=False))
            outcome = "connected"
        except (BlockingIOError, ConnectionRefusedError):
            outcome = "refused"
        except OSError as exc:
            outcome = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    report("flood", {"attempted": 20_000, "outcomes": outcomes, "seconds": round(time.monotonic() - start, 2)})
    return held


def watch_held(held: list[socket.socket]) -> None:
    start = time.monotonic()
    states: dict[str, int] = {}
    first: dict[str, int] = {}
    while time.monotonic() - start < 60:
        states = {}
        for sock in held:
            if sock.fileno() < 0:
                states["closed"] = states.get("closed", 0) + 1
                continue
            current = state(sock)
            states[current] = states.get(current, 0) + 1
            if current != "open":
                sock.close()
        if not first:
            first = dict(states)
        if not states.get("open"):
            break
        time.sleep(0.5)
    report(
        "held",
        {"first_look": first, "at_end": states, "all_closed_after_seconds": round(time.monotonic() - start, 1)},
    )
    for sock in held:
        sock.close()


def post_head(sock: socket.socket, length: int) -> None:
    sock.sendall(f"POST /validate HTTP/1.1\r\nHost: grader\r\nContent-Length: {length}\r\n\r\n".encode())


def huge_declared() -> None:
    time.sleep(1.1)  # past the rate limit's interval
    with connect() as sock:
        post_head(sock, 450 * MIB)
        status, message, seconds = read_reply(sock)
    report("huge-declared", {"status": status, "message": message, "seconds": seconds})


def stalled_bodies() -> None:
    block = b"1,0\n" * (MIB // 4)
    results = []
    socks = []
    for _ in range(4):
        time.sleep(1.1)
        sock = connect()
        socks.append(sock)
        sent = 0
        try:
            post_head(sock, 90 * MIB)
            sock.settimeout(5)
            while sent < 45 * MIB:
                sock.sendall(block)
                sent += len(block)
            outcome = "stalled half way"
        except OSError as exc:  # refused before the body was read: the socket stops taking bytes
            outcome = type(exc).__name__
        results.append({"sent_mib": sent // MIB, "outcome": outcome})
    for sock, result in zip(socks, results, strict=True):
        status, message, seconds = read_reply(sock, timeout=60)
        result.update(status=status, message=message, closed_after_seconds=seconds)
        sock.close()
    report("stalled-body", results)


def bad_heads() -> None:
    with connect() as sock:
        sock.sendall(b"POST /validate HTTP/1.1\r\nHost: grader\r\n")
        status, _, seconds = read_reply(sock, timeout=60)
    report("slow-head", {"status": status, "closed_after_seconds": seconds})
    with connect() as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"POST /validate HTTP/1.1\r\nX-Pad: " + b"a" * (100 << 10) + b"\r\n\r\n")
        status, message, _ = read_reply(sock)
    report("big-head", {"status": status, "message": message})


def after() -> None:
    time.sleep(1.1)
    with open("/home/data/sample_submission.csv", "rb") as sample:
        body = sample.read()
    with connect() as sock:
        post_head(sock, len(body))
        sock.sendall(body)
        status, message, _ = read_reply(sock)
    report("after", {"status": status, "message": message})


def main() -> None:
    watch_held(flood())
    huge_declared()
    stalled_bodies()
    bad_heads()
    after()
    shutil.copy("/home/data/sample_submission.csv", "/home/submission/submission.csv")
    report("done", True)


if __name__ == "__main__":
    main()
