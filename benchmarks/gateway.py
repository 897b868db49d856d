"""The gateway's responsiveness and costs on the embedded stack, each against a baseline measured
in the same run on the same Docker engine.

Printed, side by side in one run:
- slowest call: the slowest `GetRun` (one every ~10 ms) while a 300,000-line dummy run streams to
  a WatchRun client and finishes (its log stored, its events compacted), target < 50 ms;
- under a backlog: `GetRun` latency p50/p99 and line latency p50/p99 (the agent prints a line,
  stamped by the Docker engine, until a WatchRun client has it) while a backlog of tiny dummy
  runs drains, target line p99 < 50 ms;
- the clients behind both targets run in processes of their own at real-time CPU priority: a client
  on another machine has a CPU of its own, and one here that waits for a CPU to read a reply the
  gateway has sent would add its own wait to the figure; the same figures from clients at the
  gateway's priority and at the default one are printed beside them (see `_Sampler`);
- overhead: a dummy run through the gateway (SDK create, then watch to the end) against a bare
  `docker run --rm --network none` of the same image, medians, as a ratio, target <= 1.3x;
- streaming: lines/s of a second such run through WatchRun against `docker logs -f` of the same
  container, both followed live from the container's start, as a ratio, target >= 0.9x (its slowest
  `GetRun` is printed too: the reference reader is load of its own).

    .venv/bin/python -m benchmarks.gateway [--lines 300000] [--backlog 300] [--runs 10] [--concurrent 12]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import grpc

from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import GATEWAY_CPU_NICE, EmbeddedStack
from mleredux.images import build_image
from mleredux.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from services.cpu_priority import AUTOGROUP_SCHEDULING, autogroup_scheduling, set_cpu_nice

RunState = common_pb2.RunState
#: A client process's CPU priority (`_client_argv`): SCHED_FIFO 1, it runs whenever it is runnable.
#: It needs ~1 ms of CPU a call, so at one call every 10 ms it takes a tenth of a CPU from the rest.
REALTIME = "realtime"
FIGURES = ("slowest", "backlog", "overhead")
TINY = common_pb2.ComputeProfile(cpus=0.05, memory_bytes=64 << 20, time_limit_seconds=600)
SMALL = common_pb2.ComputeProfile(cpus=0.25, memory_bytes=128 << 20, time_limit_seconds=600)
TERMINAL = {
    RunState.RUN_STATE_SUCCEEDED,
    RunState.RUN_STATE_FAILED,
    RunState.RUN_STATE_CANCELLED,
    RunState.RUN_STATE_TIMED_OUT,
    RunState.RUN_STATE_LOST,
}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _docker_time(text: str) -> float:
    whole, _, fraction = text.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(whole + "+00:00").timestamp()
    return stamp + float("0." + (fraction or "0"))


async def _docker(*args: str) -> str:
    out = await asyncio.to_thread(subprocess.run, ["docker", *args], capture_output=True, text=True)
    return out.stdout.strip()


async def _started_at(container: str) -> float | None:
    """The container's StartedAt, looked up until it has started (None if it is gone first: a fast
    run's container may be removed before `docker logs -f` has delivered its last line)."""
    while True:
        text = await _docker("inspect", "-f", "{{.State.StartedAt}}", container)
        if not text:
            return None
        if not text.startswith("0001-"):  # the zero time: created, not yet started
            return _docker_time(text)
        await asyncio.sleep(0.02)


async def _container_of(run_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = await _docker("ps", "-aq", "--filter", f"label=mleredux.run_id={run_id}")
        if found:
            return found.splitlines()[0]
        await asyncio.sleep(0.05)
    raise SystemExit(f"no container appeared for run {run_id}")


@dataclass
class _Sample:
    """One timed GetRun, and where its time went outside the gateway's code."""

    #: When the call started (time.time()).
    started: float
    seconds: float
    #: Of the machine's CPU time during the call, how much its hypervisor gave to others (ms, summed
    #: over the vCPUs, in 10 ms ticks): time in which neither the caller nor the gateway could run.
    steal_ms: float
    #: How long the sampler's threads (the caller's and gRPC's) were runnable but waited for a CPU (ms).
    caller_waited_ms: float
    #: How long the gateway's event-loop thread was runnable but waited for a CPU (ms).
    gateway_waited_ms: float
    #: The same for the gateway's other threads (gRPC's pollers, the event writer, reads), summed (ms).
    gateway_others_waited_ms: float


class _Sampler:
    """GetRun of one run every `pause` seconds, each call timed, from a process of its own (this one
    is busy decoding the streams it follows, which would show up as gateway latency), until stopped.

    `priority`: the sampler's CPU priority, `REALTIME` or a nice value for its session. A client on a
    machine of its own never waits for a CPU to take its reply; on this saturated host one at the
    default priority (0) waited up to 84-230 ms (summed over its threads) during its slowest calls,
    behind Docker's logging, and one at the gateway's own priority (`GATEWAY_CPU_NICE`) 82-319 ms: a
    scheduler trace showed its thread woken by the reply and then runnable for 52 ms while the
    gateway's loop (33 ms of it) and the runner ran on that CPU. At real-time priority (the figure)
    it runs as soon as the reply is there, so the figure is the gateway's own time, its waits for a
    CPU included; the two others are printed beside it."""

    def __init__(self, stack: EmbeddedStack, run_id: str, priority: str = REALTIME, pause: float = 0.01) -> None:
        gateway_pid = str(stack.services["gateway"].process.pid)
        self.priority = priority
        self._argv = _client_argv(stack, "--sample-get-run", run_id, priority, gateway_pid, str(pause))
        self._process: asyncio.subprocess.Process | None = None
        self.samples: list[_Sample] = []
        #: The latest the sampler's own process woke from a 5 ms sleep (seconds): the host's share.
        self.late = 0.0
        #: The CPU time the sampler's process used in all (start-up included).
        self.cpu_seconds = 0.0

    @property
    def seconds(self) -> list[float]:
        return [sample.seconds for sample in self.samples]

    async def start(self) -> None:
        # A session (a CPU scheduling group) of its own, as any other program calling the API would
        # have: in this one's, it waited for a CPU behind this process decoding the streams it follows.
        self._process = await asyncio.create_subprocess_exec(
            *self._argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )

    async def stop(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.close()
        out, _ = await self._process.communicate()
        answer = json.loads(out)
        self.samples = [_Sample(*sample) for sample in answer["samples"]]
        self.late = float(answer["late"])
        self.cpu_seconds = float(answer["cpu"])

    def slowest(self) -> _Sample:
        return max(self.samples, key=lambda sample: sample.seconds)


class _Counters:
    """The /proc figures the sampler reads around every call, from files opened once and read again
    with pread: opening and parsing some fifty /proc files per call cost the sampler ~2 ms of CPU a
    call (a fifth of a CPU at one call every 10 ms), more than its fair share on a saturated host, so
    it queued behind its own measuring. Threads that end are dropped; ones started later are not seen."""

    def __init__(self, caller: str, gateway: str) -> None:
        self._stat = os.open("/proc/stat", os.O_RDONLY)
        self._caller = self._open_threads(caller)
        self._loop = self._open_threads(gateway, only=gateway)
        self._others = self._open_threads(gateway, besides=gateway)

    @staticmethod
    def _open_threads(pid: str, *, only: str | None = None, besides: str | None = None) -> list[int]:
        fds = []
        with contextlib.suppress(OSError):
            for thread in os.listdir(f"/proc/{pid}/task"):
                if (only is not None and thread != only) or thread == besides:
                    continue
                with contextlib.suppress(OSError):
                    fds.append(os.open(f"/proc/{pid}/task/{thread}/schedstat", os.O_RDONLY))
        return fds

    def steal_ticks(self) -> int:
        """The machine's stolen CPU time so far, in clock ticks (/proc/stat's 8th figure); 0 if unknown."""
        try:
            return int(os.pread(self._stat, 256, 0).split(b"\n", 1)[0].split()[8])
        except (OSError, IndexError, ValueError):
            return 0

    @staticmethod
    def _waited_ns(fds: list[int]) -> int:
        """How long these threads have been runnable but not running so far (schedstat's second figure)."""
        total = 0
        for fd in fds:
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(os.pread(fd, 64, 0).split()[1])
        return total

    def waits(self) -> tuple[int, int, int]:
        """The caller's threads', the gateway's loop thread's and its other threads' waits so far (ns)."""
        return self._waited_ns(self._caller), self._waited_ns(self._loop), self._waited_ns(self._others)


def _client_argv(stack: EmbeddedStack, role: str, run_id: str, priority: str, *more: str) -> list[str]:
    """The command of a client process of this benchmark (`role`: a key of `_CLIENTS`) for `run_id`,
    at CPU priority `priority` (`REALTIME` or a nice value)."""
    address = stack.services["gateway"].address
    return [sys.executable, "-m", "benchmarks.gateway", role, address, stack.admin_token, run_id, priority, *more]


def _priority_label(priority: str) -> str:
    if priority == REALTIME:
        return "with a CPU of its own (real-time priority)"
    if int(priority) == GATEWAY_CPU_NICE:
        return f"at the gateway's CPU priority (nice {GATEWAY_CPU_NICE})"
    return "at the default priority" if int(priority) == 0 else f"at nice {priority}"


def _take_priority(priority: str) -> None:
    """Gives this client process its CPU priority: real-time for every thread it has (those it
    starts later inherit it), or a nice value for it and its session's scheduling group."""
    if priority != REALTIME:
        if int(priority):
            set_cpu_nice(int(priority))  # it leads a session of its own: its scheduling group's nice too
        return
    try:
        for thread in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(thread), os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        raise SystemExit("a real-time client needs root or CAP_SYS_NICE") from None


def _sample_get_run(address: str, token: str, run_id: str, gateway_pid: str, pause: str) -> None:
    """The sampler's process: synchronous gRPC, one GetRun every `pause` seconds (and the call's
    time) until stdin closes."""
    stop = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    late = [0.0]

    def oversleep() -> None:
        # The host's own scheduling delay in this phase: how late a 5 ms sleep of this process ends,
        # whatever the gateway does (a call cannot come back sooner than its caller is run).
        while not stop.is_set():
            start = time.perf_counter()
            time.sleep(0.005)
            late[0] = max(late[0], time.perf_counter() - start - 0.005)

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    threading.Thread(target=oversleep, daemon=True).start()
    samples: list[tuple[float, ...]] = []
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        stub.GetRun(gateway_pb2.GetRunRequest(run_id=run_id), metadata=metadata, timeout=60)  # gRPC's threads exist now
        counters = _Counters(str(os.getpid()), gateway_pid)
        while not stop.is_set():
            steal, before = counters.steal_ticks(), counters.waits()
            wall, start = time.time(), time.perf_counter()
            stub.GetRun(gateway_pb2.GetRunRequest(run_id=run_id), metadata=metadata, timeout=60)
            took = time.perf_counter() - start
            after = counters.waits()
            waited = [(b - a) / 1e6 for a, b in zip(before, after, strict=True)]
            samples.append((wall, took, (counters.steal_ticks() - steal) * tick_ms, *waited))
            stop.wait(float(pause))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({"samples": samples, "late": late[0], "cpu": cpu}))


def _watch_ticks(address: str, token: str, run_id: str, ticks_text: str) -> None:
    """The line watcher's process: WatchRun of the probe run, synchronous gRPC, until its last tick;
    prints when each tick line arrived and when the runner read it."""
    last = f"tick {ticks_text}"
    arrived: dict[str, tuple[float, float]] = {}
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        call = stub.WatchRun(gateway_pb2.WatchRunRequest(run_id=run_id), metadata=metadata)
        call.initial_metadata()  # the gateway has taken the call (it sends the metadata before any event)
        print(json.dumps({"ready": time.time()}), flush=True)
        for response in call:
            now = time.time()
            for event in response.events:
                if event.HasField("log_line") and event.log_line.text.startswith("tick"):
                    arrived[event.log_line.text] = (now, event.time.ToNanoseconds() / 1e9)
            if last in arrived:
                break
    print(json.dumps(arrived))


class _TickWatcher:
    """The probe run's tick lines followed through WatchRun by a process of its own at `priority`
    (see `_Sampler`): when each arrived, and when the runner had read it from the engine."""

    def __init__(self, stack: EmbeddedStack, run_id: str, ticks: int, priority: str = REALTIME) -> None:
        self._argv = _client_argv(stack, "--watch-ticks", run_id, priority, str(ticks))
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> float:
        """Starts it; returns (time.time()) when its call was taken: lines printed earlier are replayed
        to it, not followed, so they are left out of the figures."""
        self._process = await asyncio.create_subprocess_exec(
            *self._argv, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        assert self._process.stdout is not None
        ready = await self._process.stdout.readline()
        if not ready:
            raise SystemExit(f"the tick watcher failed before it was watching (exit {await self._process.wait()})")
        return float(json.loads(ready)["ready"])

    async def result(self) -> tuple[dict[str, float], dict[str, float]]:
        """(arrived, captured): time.time() by line text."""
        assert self._process is not None
        out, _ = await self._process.communicate()
        if self._process.returncode != 0:
            raise SystemExit(f"the tick watcher failed (exit {self._process.returncode})")
        lines = json.loads(out)
        return {t: v[0] for t, v in lines.items()}, {t: v[1] for t, v in lines.items()}


#: The benchmark's client processes by their first argument (`_client_argv`).
_CLIENTS: dict[str, Callable[..., None]] = {"--sample-get-run": _sample_get_run, "--watch-ticks": _watch_ticks}


class _LoopLag:
    """The services' own event-loop probes (`mleredux_event_loop_lag_seconds`), read from their
    metrics endpoints (the gateway's and the runner's) before and after a phase."""

    SERVICES = ("gateway", "runner")
    WITHIN_50_MS = 'mleredux_event_loop_lag_seconds_bucket{le="0.05"}'

    def __init__(self, stack: EmbeddedStack) -> None:
        self.urls = {name: f"http://{stack.services[name].metrics_address}/metrics" for name in self.SERVICES}
        self._before: dict[str, dict[str, float]] = {}

    async def _read(self, url: str) -> dict[str, float]:
        def fetch() -> str:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return str(answer.read().decode())

        values: dict[str, float] = {}
        for line in (await asyncio.to_thread(fetch)).splitlines():
            if line.startswith("mleredux_event_loop_lag"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    async def start(self) -> None:
        self._before = {name: await self._read(url) for name, url in self.urls.items()}

    async def report(self) -> str:
        parts = []
        for name, url in self.urls.items():
            after, before = await self._read(url), self._before.get(name, {})
            probes, within_50_ms = (
                after.get(metric, 0.0) - before.get(metric, 0.0)
                for metric in ("mleredux_event_loop_lag_seconds_count", self.WITHIN_50_MS)
            )
            late = probes - within_50_ms
            worst = after.get("mleredux_event_loop_lag_max_seconds", 0.0) * 1000
            parts.append(
                f"{name} event loop: {late:.0f} of {probes:.0f} probes held > 50 ms in this phase; "
                f"longest hold since start {worst:.1f} ms"
            )
        return "; ".join(parts)


_Item = TypeVar("_Item")


async def _stream_until(items: AsyncIterator[_Item], stop: Callable[[_Item], bool]) -> None:
    async for item in items:
        if stop(item):
            return


async def _docker_logs_until(container: str, marker: bytes) -> float:
    """`docker logs -f` of the container until `marker`: the time.time() at which it printed it."""
    process = await asyncio.create_subprocess_exec(
        "docker", "logs", "-f", container, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert process.stdout is not None
    tail = b""
    try:
        while True:
            chunk = await process.stdout.read(1 << 16)
            if not chunk:
                raise SystemExit(f"docker logs -f of {container} ended before {marker!r}")
            if marker in tail + chunk:
                return time.time()
            tail = chunk[-len(marker) :]
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@dataclass
class _StreamedRun:
    """One long run followed through WatchRun (and, as the reference, `docker logs -f`), GetRun sampled."""

    #: GetRun sampled by a client at real-time priority (the figure) and, beside it, by one at the
    #: gateway's priority and one at the default priority.
    samplers: list[_Sampler]
    #: time.time() of the container's start, of the runner reading the last line, of the WatchRun
    #: client having it, of `docker logs -f` printing it (0 without the reference) and of the run
    #: being concluded (its log stored, its state final).
    started: float
    captured: float
    got_last: float
    docker_last: float
    concluded: float


async def _streamed_run(
    client: GatewayClient, stack: EmbeddedStack, lines: int, *, beside_docker_logs: bool
) -> _StreamedRun:
    run = await client.create_run("demo-digits", "dummy", compute=SMALL, env={"DUMMY_LINES": str(lines)})
    # The clients beside the figure's call a fifth as often: each call costs its process ~1 ms of
    # CPU and the gateway 0.86 ms (3,000 GetRuns on an idle stack), so three at the full rate would
    # add a quarter of a CPU to the gateway's own load and as much again in the clients.
    samplers = [
        _Sampler(stack, run.run_id),
        _Sampler(stack, run.run_id, str(GATEWAY_CPU_NICE), pause=0.05),
        _Sampler(stack, run.run_id, "0", pause=0.05),
    ]
    for sampler in samplers:
        await sampler.start()
    last = str(lines)
    got_last: list[float] = []
    captured: list[float] = []  # when the runner read the last line from the engine
    final: list[common_pb2.StatusChange] = []

    def at_last_line(batch: Sequence[common_pb2.RunEvent]) -> bool:
        # From the batch's end back to its last line of `seq` output (only the dummy's closing words
        # and status events come after the last one). A client that rendered every line would pay
        # for each; this figure is about delivery, and `docker logs -f` is read here in bulk too.
        for event in reversed(batch):
            if event.HasField("status_change") and event.status_change.state in TERMINAL:
                final.append(event.status_change)
            if event.HasField("log_line") and event.log_line.text.isdigit():
                if event.log_line.text == last:
                    got_last.append(time.time())
                    captured.append(event.time.ToNanoseconds() / 1e9)
                break
        return bool(final)

    watching = asyncio.create_task(_stream_until(client.watch_batches(run.run_id), at_last_line))
    container = await _container_of(run.run_id)
    started_at = asyncio.create_task(_started_at(container))
    docker_last = await _docker_logs_until(container, f"\n{last}\n".encode()) if beside_docker_logs else 0.0
    await watching
    # Sampled until the run is concluded too (its log stored, its state final), not just its last event.
    while (await client.get_run(run.run_id)).state not in TERMINAL:  # noqa: ASYNC110 (polling the API is the point)
        await asyncio.sleep(0.05)
    concluded = time.time()
    await asyncio.sleep(1.0)  # and through the compaction that follows
    for sampler in samplers:
        await sampler.stop()
    if not final or final[0].state != RunState.RUN_STATE_SUCCEEDED or not got_last:
        raise SystemExit(f"the {lines}-line run did not succeed: {final}")
    started = await started_at
    if started is None:
        raise SystemExit(f"container {container} was gone before its start time could be read")
    return _StreamedRun(samplers, started, captured[0], got_last[0], docker_last, concluded)


def _slowest_call(streamed: _StreamedRun, sampler: _Sampler) -> tuple[float, str]:
    """The slowest GetRun of `sampler` (ms) and the lines that place it and say where its time went."""
    worst = sampler.slowest()
    over = [t for t in sampler.seconds if t > 0.05]
    return worst.seconds * 1000, (
        f"over {len(sampler.seconds)} calls (p99 {_quantile(sampler.seconds, 0.99) * 1000:.1f} ms, "
        f"{len(over)} over 50 ms)\n"
        f"    the slowest began {worst.started - streamed.started:.2f} s after the container's start (the last line "
        f"reached the client at {streamed.got_last - streamed.started:.2f} s, the run was concluded by "
        f"{streamed.concluded - streamed.started:.2f} s)\n"
        f"    during it: {worst.steal_ms:.0f} ms of CPU stolen by the hypervisor, the caller waited "
        f"{worst.caller_waited_ms:.1f} ms, the gateway's loop {worst.gateway_waited_ms:.1f} ms and its other "
        f"threads {worst.gateway_others_waited_ms:.1f} ms (summed) for a CPU; "
        f"the sampler's own process woke from a 5 ms sleep up to {sampler.late * 1000:.1f} ms late "
        f"(it used {sampler.cpu_seconds:.2f} CPU-s in all)"
    )


def _slowest_calls(streamed: _StreamedRun) -> tuple[float, str]:
    """The figure's slowest GetRun (ms), and lines with it and the other samplers' slowest."""
    figure, detail = _slowest_call(streamed, streamed.samplers[0])
    text = f"{figure:.1f} ms {detail}"
    for sampler in streamed.samplers[1:]:
        slowest, detail = _slowest_call(streamed, sampler)
        text += f"\n    from a client {_priority_label(sampler.priority)} beside it: {slowest:.1f} ms {detail}"
    return figure, text


async def slowest_and_streaming(client: GatewayClient, stack: EmbeddedStack, lag: _LoopLag, lines: int) -> None:
    """Two runs of `lines` lines, GetRun sampled all along each (its end included): one followed
    through WatchRun alone, for the slowest call under the service's own load; one followed through
    WatchRun and `docker logs -f` side by side from the container's start, for the streaming ratio
    (the reference reader costs the machine a fifth of its CPU, so its slowest call is printed apart)."""
    await lag.start()
    alone = await _streamed_run(client, stack, lines, beside_docker_logs=False)
    slowest, detail = _slowest_calls(alone)
    print(
        f"(a) slowest GetRun while a {lines:,}-line run streams to a WatchRun client and finishes, from a client "
        f"{_priority_label(alone.samplers[0].priority)}: {detail}\n"
        f"    {await lag.report()}\n    target < 50 ms: {_verdict(slowest < 50)}"
    )
    paired = await _streamed_run(client, stack, lines, beside_docker_logs=True)
    through = lines / (paired.got_last - paired.started)
    bare = lines / (paired.docker_last - paired.started)
    ratio = through / bare
    print(
        f"(d) live streaming: WatchRun {through:,.0f} lines/s, docker logs -f of the same container "
        f"{bare:,.0f} lines/s: ratio {ratio:.2f}x; target >= 0.9x: {_verdict(ratio >= 0.9)}\n"
        f"    the runner read the last line {paired.captured - paired.started:.2f} s after the start, the WatchRun "
        f"client had it {paired.got_last - paired.captured:.3f} s later, docker logs -f at "
        f"{paired.docker_last - paired.started:.2f} s"
    )
    print(f"    slowest GetRun in this run, docker logs -f reading beside: {_slowest_calls(paired)[1]}")


async def backlog(
    client: GatewayClient, stack: EmbeddedStack, lag: _LoopLag, count: int, ticks: int, lines_json: str | None
) -> None:
    """A probe run printing a line every 50 ms (then sleeping, so its Docker log can be read) while
    `count` tiny runs drain; GetRun of the probe sampled all along. `lines_json`: where to write each
    line's times (printed, captured by the runner, arrived at each client) for a closer look."""
    probe = await client.create_run(
        "demo-digits",
        "dummy",
        compute=SMALL,
        env={"DUMMY_TICKS": str(ticks), "DUMMY_TICK_SECONDS": "0.05", "DUMMY_SLEEP": "600"},
    )
    # The figure's client is a process of its own at real-time priority, another one beside it is at
    # the gateway's priority; this process, which also creates the backlog and polls it, follows the
    # same lines at the default priority.
    watcher = _TickWatcher(stack, probe.run_id, ticks)
    nice_watcher = _TickWatcher(stack, probe.run_id, ticks, str(GATEWAY_CPU_NICE))
    watching_from = max(await watcher.start(), await nice_watcher.start())
    arrived_here: dict[str, float] = {}

    def record(event: common_pb2.RunEvent) -> bool:
        if event.HasField("log_line") and event.log_line.text.startswith("tick"):
            arrived_here[event.log_line.text] = time.time()
        return f"tick {ticks}" in arrived_here

    watching = asyncio.create_task(_stream_until(client.watch(probe.run_id), record))
    await _container_of(probe.run_id)
    await lag.start()
    sampler = _Sampler(stack, probe.run_id)
    await sampler.start()
    start = time.monotonic()
    run_ids = [(await client.create_run("demo-digits", "dummy", compute=TINY)).run_id for _ in range(count)]
    created = time.monotonic() - start
    pending = set(run_ids)
    while pending:
        token = ""
        while True:
            page = await client.list_runs(page_size=500, page_token=token)
            pending -= {r.run_id for r in page.runs if r.state in TERMINAL}
            token = page.next_page_token
            if not token:
                break
        await asyncio.sleep(0.5)
    drained = time.monotonic() - start
    await sampler.stop()
    await watching
    arrived, captured = await watcher.result()
    arrived_nice, _ = await nice_watcher.result()
    container = await _container_of(probe.run_id)
    out = await asyncio.to_thread(
        subprocess.run, ["docker", "logs", "--timestamps", container], capture_output=True, text=True
    )
    printed: dict[str, float] = {}
    for line in (out.stdout + out.stderr).splitlines():
        stamp, _, text = line.partition(" ")
        if text in arrived and (at := _docker_time(stamp)) > watching_from:
            printed[text] = at
    await client.cancel_run(probe.run_id)
    delays = [arrived[text] - printed[text] for text in printed]
    delays_here = [arrived_here[text] - printed[text] for text in printed if text in arrived_here]
    delays_nice = [arrived_nice[text] - printed[text] for text in printed if text in arrived_nice]
    runner_part = [captured[text] - printed[text] for text in printed]
    gateway_part = [arrived[text] - captured[text] for text in printed]
    if lines_json:
        times = {t: [printed[t], captured[t], arrived[t], arrived_nice.get(t), arrived_here.get(t)] for t in printed}
        columns = ["printed", "captured", "arrived", "arrived_at_gateway_nice", "arrived_here"]
        document = json.dumps({"columns": columns, "lines": times})
        await asyncio.to_thread(Path(lines_json).write_text, document)
    failed = 0
    for run_id in run_ids:
        failed += (await client.get_run(run_id)).state != RunState.RUN_STATE_SUCCEEDED
    p99 = _quantile(delays, 0.99) * 1000
    print(
        f"(b) while {count} tiny runs drain (created in {created:.1f} s, drained in {drained:.0f} s, "
        f"{count / drained * 60:.0f} runs/min, {failed} not SUCCEEDED): "
        f"GetRun p50 {_quantile(sampler.seconds, 0.5) * 1000:.1f} ms, p99 "
        f"{_quantile(sampler.seconds, 0.99) * 1000:.1f} ms, max {max(sampler.seconds) * 1000:.1f} ms "
        f"({len(sampler.seconds)} calls); line print -> WatchRun client {_priority_label(REALTIME)} p50 "
        f"{_quantile(delays, 0.5) * 1000:.1f} ms, p99 {p99:.1f} ms ({len(delays)} lines); "
        f"target line p99 < 50 ms: {_verdict(p99 < 50)}\n"
        f"    of which print -> runner p50 {_quantile(runner_part, 0.5) * 1000:.1f} ms, p99 "
        f"{_quantile(runner_part, 0.99) * 1000:.1f} ms; runner -> gateway -> client p50 "
        f"{_quantile(gateway_part, 0.5) * 1000:.1f} ms, p99 {_quantile(gateway_part, 0.99) * 1000:.1f} ms\n"
        f"    the same lines to a WatchRun client {_priority_label(str(GATEWAY_CPU_NICE))}: p50 "
        f"{_quantile(delays_nice, 0.5) * 1000:.1f} ms, p99 {_quantile(delays_nice, 0.99) * 1000:.1f} ms; "
        f"to one at the default priority, in the process creating and polling "
        f"the backlog: p50 {_quantile(delays_here, 0.5) * 1000:.1f} ms, "
        f"p99 {_quantile(delays_here, 0.99) * 1000:.1f} ms\n"
        f"    {await lag.report()}"
    )


async def overhead(client: GatewayClient, image: str, runs: int) -> None:
    through: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        run = await client.create_run("demo-digits", "dummy", compute=SMALL)
        final = 0
        async for event in client.watch(run.run_id):
            if event.HasField("status_change"):
                final = event.status_change.state
        through.append(time.perf_counter() - start)
        if final != RunState.RUN_STATE_SUCCEEDED:
            raise SystemExit(f"overhead run {run.run_id} ended {RunState.Name(final)}")
    bare: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        command = ["docker", "run", "--rm", "--pull=never", "--network", "none", image]
        await asyncio.to_thread(subprocess.run, command, capture_output=True, check=True)
        bare.append(time.perf_counter() - start)
    ratio = statistics.median(through) / statistics.median(bare)
    print(
        f"(c) overhead: a dummy run through the gateway {statistics.median(through) * 1000:.0f} ms, bare docker run "
        f"{statistics.median(bare) * 1000:.0f} ms (medians of {runs}): ratio {ratio:.2f}x; "
        f"target <= 1.3x: {_verdict(ratio <= 1.3)}"
    )


def _scheduling() -> str:
    """The kernel's CPU scheduling the figures were taken under: the services' priorities count per
    thread with autogroup scheduling off (as scripts/tune_host.sh sets it), per session with it on."""
    mode = autogroup_scheduling()
    if mode is None:
        return "no autogroup scheduling"
    return f"autogroup scheduling {'on' if mode else 'off'} ({AUTOGROUP_SCHEDULING} = {int(mode)})"


async def main(args: argparse.Namespace) -> None:
    image = build_image("dummy").tag
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {_scheduling()}")
    # The runner turns at most 200,000 lines of a run into events by default (docs/limits.md).
    os.environ["MLEREDUX_RUNNER_MAX_OUTPUT_LINES"] = str(max(args.lines + 1000, 200_000))
    with tempfile.TemporaryDirectory(prefix="mleredux-bench-gateway-") as temporary:
        root = args.home or temporary
        home = Home(Path(root))
        flags = ["--max-concurrent", str(args.concurrent)]
        stack = EmbeddedStack(
            home,
            gateway_http_listen=None,
            extra_args={
                "gateway": [*flags, "--metrics-listen", "127.0.0.1:0", "--max-unfinished-runs-per-user", "0"],
                "runner": [*flags, "--metrics-listen", "127.0.0.1:0"],
            },
        )
        await asyncio.to_thread(stack.start)
        try:
            async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
                # A first run warms the preparer's dataset and the grader's answers for all that follow.
                warm = await client.create_run("demo-digits", "dummy", compute=SMALL)
                async for _ in client.watch(warm.run_id):
                    pass
                if "overhead" in args.only:
                    await overhead(client, image, args.runs)
                lag = _LoopLag(stack)
                if "slowest" in args.only:
                    await slowest_and_streaming(client, stack, lag, args.lines)
                if "backlog" in args.only:
                    await backlog(client, stack, lag, args.backlog, args.ticks, args.lines_json)
        finally:
            await asyncio.to_thread(stack.stop)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in _CLIENTS:
        address, token, run_id, priority, *more = sys.argv[2:]
        _take_priority(priority)
        _CLIENTS[sys.argv[1]](address, token, run_id, *more)
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=300_000, help="lines of the streaming run")
    parser.add_argument("--backlog", type=int, default=300, help="tiny runs in the backlog")
    parser.add_argument("--ticks", type=int, default=600, help="probe lines (50 ms apart) during the backlog")
    parser.add_argument("--lines-json", help="(b) write each probe line's times to this JSON file")
    parser.add_argument("--runs", type=int, default=10, help="runs for the overhead medians")
    parser.add_argument("--concurrent", type=int, default=12, help="the gateway's and runner's --max-concurrent")
    parser.add_argument("--home", help="keep the stack's home (logs, database) here instead of a temporary one")
    parser.add_argument("--only", nargs="+", default=list(FIGURES), choices=FIGURES, help="some of the figures")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
