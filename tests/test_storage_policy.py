"""The storage policy: finished runs' events compacted, retention by age/count/bytes, prune whole.

The rule (`select_prunable`) and compaction are tested on their own; pruning end to end on a stack
of its own (it removes runs), through the admin RPC and `mleredux runs prune`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient
from mleredux.config import Home
from mleredux.embedded import EmbeddedStack
from mleredux.errors import MleReduxError
from mleredux.store import LocalStore
from mleredux.v1 import common_pb2, gateway_pb2
from services.gateway.retention import FinishedRun, RetentionPolicy, prune_runs, select_prunable
from services.gateway.state import CHUNK_EVENTS, RunDatabase

RunState = common_pb2.RunState
S = 1_000_000_000  # ns per second


def _runs(*ages_and_sizes: tuple[int, int], now: int = 1000 * S) -> list[FinishedRun]:
    return [FinishedRun(f"r{i}", now - age * S, size) for i, (age, size) in enumerate(ages_and_sizes)]


def test_the_retention_rule_prunes_oldest_first_by_age_count_and_bytes() -> None:
    runs = _runs((500, 10), (400, 10), (300, 10), (200, 10), (100, 10))
    now = 1000 * S
    assert select_prunable(runs, RetentionPolicy(), now) == []
    assert select_prunable(runs, RetentionPolicy(max_age_seconds=250), now) == ["r0", "r1", "r2"]
    assert select_prunable(runs, RetentionPolicy(max_runs=2), now) == ["r0", "r1", "r2"]
    assert select_prunable(runs, RetentionPolicy(max_database_bytes=25), now) == ["r0", "r1", "r2"]
    assert select_prunable(runs, RetentionPolicy(max_database_bytes=50), now) == []
    # Bounds combine: the age takes two, the count a third, the bytes a fourth.
    combined = RetentionPolicy(max_age_seconds=450, max_runs=3, max_database_bytes=15)
    assert select_prunable(runs, combined, now) == ["r0", "r1", "r2", "r3"]


def _run_with_events(db: RunDatabase, run_id: str, count: int) -> list[common_pb2.RunEvent]:
    run = gateway_pb2.Run(run_id=run_id, owner="u", competition_id="c", state=RunState.RUN_STATE_QUEUED)
    run.create_time.FromNanoseconds(1)
    db.create_run(run)
    events = []
    for start in range(1, count + 1, 700):
        batch = [
            common_pb2.RunEvent(
                run_id=run_id, seq=seq, log_line=common_pb2.LogLine(text=f"line {seq} of the run's output, say")
            )
            for seq in range(start, min(start + 700, count + 1))
        ]
        db.append_events(run, batch)
        events += batch
    run.state = RunState.RUN_STATE_SUCCEEDED
    db.save_run(run)
    return events


def _replayed(db: RunDatabase, run_id: str, seq: int, limit: int = 1000) -> list[common_pb2.RunEvent]:
    """Every event from `seq` on, paged through `encoded_from` as WatchRun pages through it; each
    page's seqs must be what it says, and follow the one before."""
    events: list[common_pb2.RunEvent] = []
    while pages := db.encoded_from(run_id, seq, limit):
        for page in pages:
            batch = common_pb2.RunEventBatch.FromString(page.data)
            assert [e.seq for e in batch.events] == list(range(seq, page.last_seq + 1)) and page.first_seq == seq
            events += batch.events
            seq = page.last_seq + 1
    return events


def test_replays_get_the_stored_encodings_of_the_same_events_in_every_layout(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "gateway.sqlite3")
    events = _run_with_events(db, "big", 2 * CHUNK_EVENTS + 345)
    starts = [1, 2, 700, 701, 1999, 2001, 4001, len(events), len(events) + 1]
    for layout in ("batches", "chunks"):
        for seq in starts:
            assert _replayed(db, "big", seq) == events[seq - 1 :], (layout, seq)
            assert _replayed(db, "big", seq, limit=1) == events[seq - 1 :], (layout, seq)
        # A page is whole stored batches or chunks, so at least one and about `limit` events.
        [first] = db.encoded_from("big", 1, limit=1)
        assert first.first_seq == 1 and first.last_seq == (700 if layout == "batches" else CHUNK_EVENTS + 100)
        db.compact("big")
    assert db.encoded_from("big", len(events) + 1) == [] and db.encoded_from("nope", 1) == []
    db.close()


def test_compaction_keeps_every_event_readable_from_any_seq_and_shrinks_the_database(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "gateway.sqlite3")
    count = 2 * CHUNK_EVENTS + 345
    events = _run_with_events(db, "big", count)
    before = {seq: db.events_from("big", seq, limit) for seq, limit in [(1, 10**6), (1999, 7), (4001, 1000)]}
    assert db.uncompacted_finished_runs() == ["big"]
    [(_, _, rows_bytes)] = db.finished_runs_oldest_first()
    chunk_bytes = db.compact("big")
    assert db.uncompacted_finished_runs() == []
    [(_, _, compacted_bytes)] = db.finished_runs_oldest_first()
    assert compacted_bytes < rows_bytes / 3 and chunk_bytes < compacted_bytes
    for (seq, limit), expected in zip([(1, 10**6), (1999, 7), (4001, 1000)], before.values(), strict=True):
        assert db.events_from("big", seq, limit) == expected
    assert db.events_from("big", 1, 10**6) == events
    # Paging through, as WatchRun does, yields each event once.
    paged, seq = [], 1
    while page := db.events_from("big", seq, 1000):
        paged += page
        seq = page[-1].seq + 1
    assert paged == events
    assert db.compact("big") == 0  # nothing left to compact
    db.close()


def test_a_run_from_before_batches_keeps_its_event_rows_readable_and_compacts_them(tmp_path: Path) -> None:
    # A database written before batches were stored whole: one row per event in `events`. A run in
    # flight across the upgrade has its first events as rows and the rest as batches.
    db = RunDatabase(tmp_path / "gateway.sqlite3")
    events = _run_with_events(db, "old", CHUNK_EVENTS + 700)
    legacy = [e for e in events if e.seq <= 1400]  # its first two batches (of 700), as rows
    with sqlite3.connect(tmp_path / "gateway.sqlite3") as raw:
        raw.execute("DELETE FROM event_batches WHERE run_id = 'old' AND first_seq <= 1400")
        raw.executemany(
            "INSERT INTO events (run_id, seq, data) VALUES (?, ?, ?)",
            [("old", e.seq, e.SerializeToString()) for e in legacy],
        )
    for seq, limit in [(1, 10**6), (1399, 5), (1400, 3), (1401, 2), (2500, 1000)]:
        assert db.events_from("old", seq, limit) == events[seq - 1 : seq - 1 + limit]
        assert _replayed(db, "old", seq, limit) == events[seq - 1 :]
    assert db.uncompacted_finished_runs() == ["old"]
    assert db.compact("old") > 0
    assert db.uncompacted_finished_runs() == []
    assert db.events_from("old", 1, 10**6) == events
    db.delete_run("old")
    assert db.events_from("old", 1) == []
    db.close()


class _DownStore(LocalStore):
    def delete_prefix(self, prefix: str) -> int:
        raise MleReduxError("the store is down")


def test_a_prune_the_store_refuses_keeps_the_run(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "gateway.sqlite3")
    _run_with_events(db, "kept", 10)
    result = prune_runs(db, _DownStore(tmp_path / "store"), ["kept", "unknown"])
    assert result.run_ids == [] and len(result.errors) == 1 and "down" in result.errors[0]
    assert db.events_from("kept", 1) != []
    result = prune_runs(db, LocalStore(tmp_path / "store"), ["kept"])
    assert result.run_ids == ["kept"] and db.events_from("kept", 1) == []
    db.close()


@pytest.fixture(scope="module")
async def prune_stack(tmp_path_factory: pytest.TempPathFactory, dummy_image: str) -> AsyncIterator[EmbeddedStack]:
    stack = EmbeddedStack(Home(tmp_path_factory.mktemp("prune-home")), gateway_http_listen=None)
    await asyncio.to_thread(stack.start)
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


async def _cli(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, timeout=120)


def _store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


async def test_runs_prune_removes_old_runs_whole_and_leaves_the_rest_intact(prune_stack: EmbeddedStack) -> None:
    stack = prune_stack
    tiny = common_pb2.ComputeProfile(cpus=0.1, memory_bytes=64 << 20, time_limit_seconds=60)
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        run_ids = [(await client.create_run("demo-digits", "dummy", compute=tiny)).run_id for _ in range(8)]
        for run_id in run_ids:
            async for _ in client.watch(run_id):
                pass
        kept_events = {r: [e async for e in client.watch(r, follow=False)] for r in run_ids[-3:]}
        token = (await client.create_token("someone")).token
    store_root = stack.home.root / "store" / "runs"
    assert all((store_root / r).is_dir() for r in run_ids)
    async with GatewayClient(stack.gateway_address, token) as other:
        with pytest.raises(MleReduxError, match="admin"):
            await other.prune_runs(keep_last=1)
    before = _store_bytes(store_root)
    cli = [sys.executable, "-m", "mleredux", "--home", str(stack.home.root), "runs", "prune", "--keep", "3"]
    env = {**os.environ, "MLEREDUX_TOKEN": stack.admin_token}
    dry = await _cli([*cli, "--dry-run", "--gateway", stack.gateway_address], env)
    assert dry.returncode == 0 and dry.stdout.startswith("would remove 5 run(s)"), dry.stdout + dry.stderr
    assert all((store_root / r).is_dir() for r in run_ids)
    done = await _cli([*cli, "--gateway", stack.gateway_address], env)
    assert done.returncode == 0 and done.stdout.startswith("removed 5 run(s)"), done.stdout + done.stderr
    assert _store_bytes(store_root) < before
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        for run_id in run_ids[:5]:
            assert not (store_root / run_id).exists()
            with pytest.raises(MleReduxError) as caught:
                await client.get_run(run_id)
            assert caught.value.grpc_code == grpc.StatusCode.NOT_FOUND.name
        for run_id, events in kept_events.items():
            assert (await client.get_run(run_id)).state == RunState.RUN_STATE_SUCCEEDED
            assert [e async for e in client.watch(run_id, follow=False)] == events
            assert (store_root / run_id / "events.jsonl").is_file()
