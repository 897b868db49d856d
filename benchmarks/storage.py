"""What runs cost in storage, and what `runs prune` gives back, on the embedded stack.

Printed: the gateway's database (file plus WAL) and the local store after N dummy runs through the
gateway, the cost per run of each, and both again after pruning all but the newest `--keep` runs
through the admin RPC (the database is vacuumed by the prune).

    .venv/bin/python -m benchmarks.storage [--runs 1000] [--keep 100] [--concurrent 12]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import tempfile
import time
from pathlib import Path

from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.images import build_image
from mleredux.v1 import common_pb2

TINY = common_pb2.ComputeProfile(cpus=0.05, memory_bytes=64 << 20, time_limit_seconds=120)
TERMINAL = {3, 4, 5, 6, 7}


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _database_bytes(home: Home) -> int:
    # Checkpointed first: the WAL holds recent pages until SQLite folds them into the file.
    with contextlib.closing(sqlite3.connect(home.db_path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(_bytes(home.db_path.with_name(home.db_path.name + suffix)) for suffix in ("", "-wal"))


async def _drain(client: GatewayClient, count: int) -> float:
    start = time.monotonic()
    run_ids = [(await client.create_run("demo-digits", "dummy", compute=TINY)).run_id for _ in range(count)]
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
    return time.monotonic() - start


async def main(runs: int, keep: int, concurrent: int) -> None:
    build_image("dummy")
    with tempfile.TemporaryDirectory(prefix="mleredux-storage-") as root:
        home = Home(Path(root))
        flags = ["--max-concurrent", str(concurrent)]
        stack = EmbeddedStack(
            home,
            gateway_http_listen=None,
            extra_args={"gateway": [*flags, "--max-unfinished-runs-per-user", "0"], "runner": flags},
        )
        await asyncio.to_thread(stack.start)
        try:
            async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
                seconds = await _drain(client, runs)
                await asyncio.sleep(2)  # the last compactions
                db, store = _database_bytes(home), _bytes(home.root / "store")
                print(f"{runs} dummy runs drained in {seconds:.0f} s ({runs / seconds * 60:.0f} runs/min)")
                print(f"database {db / 2**20:.1f} MiB ({db / runs / 1024:.1f} KiB per run)")
                print(f"store    {store / 2**20:.1f} MiB ({store / runs / 1024:.1f} KiB per run)")
                pruned = await client.prune_runs(keep_last=keep)
                db_after, store_after = _database_bytes(home), _bytes(home.root / "store")
                print(f"runs prune --keep {keep}: removed {len(pruned.run_ids)} runs")
                print(f"database {db_after / 2**20:.1f} MiB, store {store_after / 2**20:.1f} MiB after the prune")
        finally:
            await asyncio.to_thread(stack.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--keep", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=12)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.keep, args.concurrent))
