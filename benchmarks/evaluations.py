"""Evaluations at scale: the incremental aggregate against re-reading every report, and an evaluation
of many dummy runs drained through the real services with the gateway's memory sampled.

Part 1 (no services): for an evaluation of COMPETITIONS x SEEDS cells, the time to take in one more
finished run and read the figures, incrementally (`Aggregate.add` + `group()`), against the baseline
measured in the same run: rebuilding the aggregate from every report so far, as a driver that
re-read the reports would. Printed as microseconds per update and their ratio.

Part 2 (`--runs N`, needs Docker and the dummy image): starts the four services on a fresh home,
creates one evaluation of the dummy agent with N runs (the three offline demos, N/3 seeds each),
follows it to the end, and prints the gateway's resident memory (VmRSS from /proc) before, at
every 10% of progress and at the end, plus runs per second.

    .venv/bin/python -m benchmarks.evaluations [--runs 1000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from mleredux.evaluation.aggregate import Aggregate, Outcome, aggregate_of


def _outcomes(competitions: int, seeds: int) -> list[Outcome]:
    rng = random.Random(1)
    return [
        Outcome(
            f"c{c:03d}",
            s,
            gold_medal=rng.random() < 0.1,
            bronze_medal=rng.random() < 0.1,
            above_median=rng.random() < 0.3,
            submission_exists=True,
            valid_submission=rng.random() < 0.9,
            score=rng.random(),
        )
        for s in range(1, seeds + 1)
        for c in range(competitions)
    ]


def aggregate_figures(competitions: int = 75, seeds: int = 14) -> None:
    outcomes = _outcomes(competitions, seeds)
    ids = [f"c{c:03d}" for c in range(competitions)]
    complexity = {cid: ("low", "medium", "high")[i % 3] for i, cid in enumerate(ids)}
    live = Aggregate(ids, seeds, complexity)
    start = time.perf_counter()
    for outcome in outcomes:
        live.add(outcome)
        live.all_groups()
    incremental = (time.perf_counter() - start) / len(outcomes)
    # The baseline: every update rebuilds from all reports so far (sampled every 25th update).
    sample = outcomes[::25]
    start = time.perf_counter()
    for outcome in sample:
        upto = outcomes[: outcomes.index(outcome) + 1]
        aggregate_of(ids, seeds, upto, complexity).all_groups()
    rebuild = (time.perf_counter() - start) / len(sample)
    print(f"aggregate of {competitions} competitions x {seeds} seeds = {len(outcomes)} runs:")
    print(f"  incremental update + figures: {incremental * 1e6:8.1f} us")
    print(f"  rebuild from all reports:     {rebuild * 1e6:8.1f} us (mean over the evaluation)")
    print(f"  ratio rebuild / incremental:  {rebuild / incremental:8.1f}x")


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _drain(runs: int, concurrency: int) -> None:
    from mleredux.client import GatewayClient
    from mleredux.config import Home
    from mleredux.embedded import EmbeddedStack
    from mleredux.images import build_image

    build_image("dummy")
    with tempfile.TemporaryDirectory() as home, EmbeddedStack(Home(Path(home))) as stack:
        pid = stack.services["gateway"].process.pid
        async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
            seeds = max(1, runs // 3)
            runs = 3 * seeds  # the three offline demos, `seeds` runs each
            before = _rss_bytes(pid)
            started = time.perf_counter()
            evaluation = await client.create_evaluation("dummy", split="demo", seeds=seeds, concurrency=concurrency)
            print(f"evaluation {evaluation.evaluation_id}: {runs} dummy runs, concurrency {concurrency}")
            print(f"  gateway RSS before: {before / 2**20:7.1f} MiB")
            mark = 0
            peak = before
            async for event in client.watch_evaluation(evaluation.evaluation_id):
                peak = max(peak, _rss_bytes(pid))
                if event.progress.done * 10 // runs > mark:
                    mark = event.progress.done * 10 // runs
                    print(f"  {event.progress.done:5d}/{runs} done: gateway RSS {_rss_bytes(pid) / 2**20:7.1f} MiB")
            elapsed = time.perf_counter() - started
            final = await client.get_evaluation(evaluation.evaluation_id)
            print(f"  {final.message}")
            print(f"  gateway RSS peak {peak / 2**20:.1f} MiB, end {_rss_bytes(pid) / 2**20:.1f} MiB")
            print(f"  {runs / elapsed:.2f} runs/s ({elapsed:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=0, help="also drain an evaluation of this many dummy runs")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    aggregate_figures()
    if args.runs:
        asyncio.run(_drain(args.runs, args.concurrency))


if __name__ == "__main__":
    main()
