"""The runner's costs, each against a baseline measured in the same run on the same Docker engine.

Printed:
- per-run overhead: the dummy agent run through the runner (ExecuteRun until the stream ends:
  work dir, socket, container, capture, artifacts stored, container removed) against a bare
  `docker run --rm --network none` of the same image, medians, as a ratio;
- throughput: lines/s of one container's output through the runner's gRPC stream against
  `docker logs -f` of the same container, as a ratio;
- latency: p50/p99 from the moment the agent prints a line (the engine's log timestamp) to the
  moment a gRPC client of the runner has it;
- concurrency: 32 dummy runs at once through one runner (all must end well), wall time.

Targets (issue #5): overhead <= 1.3x, throughput >= 80% of raw, p50 < 50 ms.

    .venv/bin/python -m benchmarks.runner [--runs 10] [--lines 300000] [--concurrent 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import grpc

from mleredux.images import build_image
from mleredux.v1 import common_pb2, runner_pb2, runner_pb2_grpc
from tests.runner_harness import RunnerProcess, execute_request, make_public_dir

RunState = common_pb2.RunState
FIGURES = ("overhead", "throughput", "latency", "concurrency")
SMALL = common_pb2.ComputeProfile(cpus=0.25, memory_bytes=128 << 20, time_limit_seconds=600)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run_to_end(runner: runner_pb2_grpc.RunnerServiceStub, request: runner_pb2.ExecuteRunRequest) -> int:
    """Runs one request to its last event; returns the final state."""
    state = 0
    async for batch in runner.ExecuteRun(request):
        for event in batch.events:
            if event.HasField("status_change"):
                state = event.status_change.state
    return state


async def overhead(runner: runner_pb2_grpc.RunnerServiceStub, image: str, public: Path, runs: int) -> None:
    through: list[float] = []
    for i in range(runs):
        start = time.perf_counter()
        state = await _run_to_end(runner, execute_request(f"overhead-{i}", image, public, compute=SMALL))
        through.append(time.perf_counter() - start)
        assert state == RunState.RUN_STATE_GRADING, f"overhead run {i} ended in state {state}"
    bare: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        command = ["docker", "run", "--rm", "--pull=never", "--network", "none", image]
        await asyncio.to_thread(subprocess.run, command, capture_output=True, check=True)
        bare.append(time.perf_counter() - start)
    ratio = statistics.median(through) / statistics.median(bare)
    print(
        f"per-run overhead: through the runner {statistics.median(through) * 1000:.0f} ms, "
        f"bare docker run {statistics.median(bare) * 1000:.0f} ms (medians of {runs}): "
        f"ratio {ratio:.2f}x (target <= 1.3x)"
    )


async def _container_of(run_id: str) -> str:
    command = ["docker", "ps", "-q", "--filter", f"label=mleredux.run_id={run_id}"]
    out = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
    return out.stdout.strip()


async def _lines_through_runner(
    runner: runner_pb2_grpc.RunnerServiceStub, request: runner_pb2.ExecuteRunRequest, lines: int
) -> tuple[float, grpc.aio.UnaryStreamCall]:  # type: ignore[type-arg]
    """Seconds from the container's start until a client of the stream has the agent's last line
    (the client does as little per event as the Docker CLI does per line: it counts)."""
    last = str(lines)
    started = 0.0
    seen = 0
    call = runner.ExecuteRun(request)
    async for batch in call:
        events = batch.events
        if not started:
            if any(e.status_change.state == RunState.RUN_STATE_RUNNING for e in events if e.HasField("status_change")):
                started = time.perf_counter()
        seen += len(events)
        if seen >= lines and any(e.log_line.text == last for e in events):
            return time.perf_counter() - started, call
    raise SystemExit(f"the stream of {request.run_id} ended before its line {last}")


async def _lines_through_docker_cli(container: str, lines: int) -> float:
    """Seconds `docker logs -f` takes to print the same container's output up to its last line."""
    marker = f"\n{lines}\n".encode()
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        "docker", "logs", "-f", container, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert process.stdout is not None
    tail = b""
    try:
        while True:
            chunk = await process.stdout.read(1 << 16)
            if not chunk:
                raise SystemExit(f"docker logs -f of {container} ended before its line {lines}")
            if marker in tail + chunk:
                return time.perf_counter() - start
            tail = chunk[-len(marker) :]
    finally:
        process.kill()
        await process.wait()


async def _lines_of_a_twin_followed_live(image: str, lines: int) -> float:
    """Seconds from the start of a container like the run's (same image, same output) until
    `docker logs -f`, attached at its start, has printed its last line."""
    env = ["-e", f"DUMMY_LINES={lines}", "-e", "DUMMY_SLEEP=600"]
    command = ["docker", "create", "--pull=never", "--network", "none", "--label", "mleredux.benchmark=1", *env, image]
    created = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
    container = created.stdout.strip()
    try:
        start = time.perf_counter()
        await asyncio.to_thread(subprocess.run, ["docker", "start", container], capture_output=True, check=True)
        return await _lines_through_docker_cli(container, lines) + time.perf_counter() - start
    finally:
        await asyncio.to_thread(subprocess.run, ["docker", "rm", "-f", container], capture_output=True)


async def throughput(
    runner: runner_pb2_grpc.RunnerServiceStub, image: str, public: Path, lines: int, repeats: int
) -> None:
    # The agent prints `lines` numbers as fast as it can, then sleeps, so that the Docker CLI can read
    # the same container's log afterwards. The runner follows the log live, while the engine is still
    # writing it, so a twin container followed live by the CLI is measured too. Alternated and
    # repeated (the host is shared): medians count.
    through: list[float] = []
    after: list[float] = []
    live: list[float] = []
    for i in range(repeats):
        run_id = f"throughput-{i}"
        request = execute_request(run_id, image, public, compute=SMALL, DUMMY_LINES=str(lines), DUMMY_SLEEP="600")
        seconds, call = await _lines_through_runner(runner, request, lines)
        through.append(seconds)
        after.append(await _lines_through_docker_cli(await _container_of(run_id), lines))
        await runner.CancelRun(runner_pb2.RunnerServiceCancelRunRequest(run_id=run_id, reason="benchmark done"))
        async for _ in call:
            pass
        live.append(await _lines_of_a_twin_followed_live(image, lines))

    def rates(seconds: list[float]) -> str:
        low, middle, high = lines / max(seconds), lines / statistics.median(seconds), lines / min(seconds)
        return f"{middle:,.0f} lines/s ({low:,.0f}-{high:,.0f})"

    rate = lines / statistics.median(through)
    print(
        f"throughput ({lines} lines; medians, range, of {repeats} alternated repeats):\n"
        f"  through the runner's gRPC stream, followed live from container start: {rates(through)}\n"
        f"  docker logs -f of the same container afterwards: {rates(after)}: "
        f"runner at {rate * statistics.median(after) / lines * 100:.0f}% of it (target >= 80%)\n"
        f"  docker logs -f of a twin container followed live from its start: {rates(live)}: "
        f"runner at {rate * statistics.median(live) / lines * 100:.0f}% of it"
    )


def _docker_time(text: str) -> float:
    whole, _, fraction = text.rstrip("Z").partition(".")
    stamp = datetime.fromisoformat(whole + "+00:00").timestamp()
    return stamp + float("0." + (fraction or "0"))


async def latency(runner: runner_pb2_grpc.RunnerServiceStub, image: str, public: Path, ticks: int) -> None:
    request = execute_request(
        "latency",
        image,
        public,
        compute=SMALL,
        DUMMY_TICKS=str(ticks),
        DUMMY_TICK_SECONDS="0.02",
        DUMMY_SLEEP="600",
    )
    arrived: dict[str, float] = {}
    call = runner.ExecuteRun(request)
    async for batch in call:
        now = time.time()
        for event in batch.events:
            if event.HasField("log_line") and event.log_line.text.startswith("tick"):
                arrived[event.log_line.text] = now
        if f"tick {ticks}" in arrived:
            break
    container = await _container_of("latency")
    command = ["docker", "logs", "--timestamps", container]
    out = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
    printed: dict[str, float] = {}
    for line in (out.stdout + out.stderr).splitlines():
        stamp, _, text = line.partition(" ")
        if text in arrived:
            printed[text] = _docker_time(stamp)
    await runner.CancelRun(runner_pb2.RunnerServiceCancelRunRequest(run_id="latency", reason="benchmark done"))
    async for _ in call:
        pass
    delays = [(arrived[text] - printed[text]) * 1000 for text in printed]
    print(
        f"latency print -> gRPC client over {len(delays)} lines: p50 {_quantile(delays, 0.5):.1f} ms, "
        f"p99 {_quantile(delays, 0.99):.1f} ms (target p50 < 50 ms)"
    )


async def concurrency(runner: runner_pb2_grpc.RunnerServiceStub, image: str, public: Path, count: int) -> None:
    peak = 0
    done = asyncio.Event()

    async def watch_capacity() -> None:
        nonlocal peak
        while not done.is_set():
            capacity = await runner.GetCapacity(runner_pb2.GetCapacityRequest())
            peak = max(peak, capacity.running)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_capacity())
    start = time.perf_counter()
    states = await asyncio.gather(
        *(_run_to_end(runner, execute_request(f"concurrent-{i}", image, public, compute=SMALL)) for i in range(count))
    )
    wall = time.perf_counter() - start
    done.set()
    await watcher
    ok = sum(state == RunState.RUN_STATE_GRADING for state in states)
    print(
        f"concurrency: {count} dummy runs at once: {ok}/{count} ended well in {wall:.1f}s wall "
        f"({wall / count * 1000:.0f} ms per run), up to {peak} containers at once"
    )
    if ok != count:
        raise SystemExit(f"{count - ok} concurrent runs did not end well: {states}")


async def main(args: argparse.Namespace) -> None:
    image = build_image("dummy").tag
    with tempfile.TemporaryDirectory(prefix="mleredux-bench-runner-") as tmp:
        root = Path(tmp)
        public = make_public_dir(root)
        process = RunnerProcess(
            root / "runner",
            (root / "store").as_uri(),
            # A budget for `concurrent` small runs at once (their limits are caps, not reservations).
            extra_args=[
                *("--cpus-total", str(args.concurrent / 4), "--memory-total", str(args.concurrent * 128)),
                *("--max-concurrent", str(args.concurrent)),
            ],
        )
        process.start()
        try:
            async with process.channel() as channel:
                runner = runner_pb2_grpc.RunnerServiceStub(channel)
                await runner.GetCapacity(runner_pb2.GetCapacityRequest(), wait_for_ready=True, timeout=30)
                if "overhead" in args.only:
                    await overhead(runner, image, public, args.runs)
                if "throughput" in args.only:
                    await throughput(runner, image, public, args.lines, args.repeats)
                if "latency" in args.only:
                    await latency(runner, image, public, args.ticks)
                if "concurrency" in args.only:
                    await concurrency(runner, image, public, args.concurrent)
        except grpc.aio.AioRpcError as exc:
            raise SystemExit(f"runner call failed: {exc.code().name}: {exc.details()}") from exc
        finally:
            process.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs for the overhead medians")
    parser.add_argument("--lines", type=int, default=300_000, help="lines for the throughput figure")
    parser.add_argument("--repeats", type=int, default=5, help="alternated repeats of the throughput figure")
    parser.add_argument("--ticks", type=int, default=200, help="lines (20 ms apart) for the latency figure")
    parser.add_argument("--concurrent", type=int, default=32, help="runs at once")
    parser.add_argument("--only", nargs="+", default=list(FIGURES), choices=FIGURES, help="some of the figures")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
