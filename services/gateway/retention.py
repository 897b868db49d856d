"""The storage policy: which finished runs to forget, and forgetting them whole.

A finished run costs its row, its compacted event chunks and its files in the store. The operator
bounds the total by age, by count and by database bytes (`RetentionPolicy`, all off by default);
`select_prunable` is the pure rule, `prune_runs` does it: the store's files first, then the database
rows, so a store that is down leaves the run listed (and prunable again later), never half-gone.
Only finished runs are ever pruned.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field

from mleredux.errors import MleReduxError
from mleredux.store import ArtifactStore
from services.gateway.chores import ChoreProcess, compact_run
from services.gateway.state import RunDatabase


@dataclass(frozen=True)
class RetentionPolicy:
    """Bounds on what finished runs may keep; 0 means no bound of that kind."""

    #: Finished runs created longer ago than this are pruned.
    max_age_seconds: float = 0.0
    #: At most this many finished runs are kept (the newest).
    max_runs: int = 0
    #: The finished runs' database bytes (record plus compacted events) are kept under this.
    max_database_bytes: int = 0

    @property
    def active(self) -> bool:
        return bool(self.max_age_seconds or self.max_runs or self.max_database_bytes)


@dataclass(frozen=True)
class FinishedRun:
    """What the policy needs to know of a finished run."""

    run_id: str
    created_ns: int
    database_bytes: int


def select_prunable(runs: list[FinishedRun], policy: RetentionPolicy, now_ns: int) -> list[str]:
    """The ids to prune, oldest first: past the age bound, then beyond the count, then beyond the bytes."""
    ordered = sorted(runs, key=lambda r: (r.created_ns, r.run_id))
    doomed: set[str] = set()
    if policy.max_age_seconds > 0:
        cutoff = now_ns - int(policy.max_age_seconds * 1e9)
        doomed.update(r.run_id for r in ordered if r.created_ns < cutoff)
    kept = [r for r in ordered if r.run_id not in doomed]
    if policy.max_runs > 0 and len(kept) > policy.max_runs:
        doomed.update(r.run_id for r in kept[: len(kept) - policy.max_runs])
        kept = kept[len(kept) - policy.max_runs :]
    if policy.max_database_bytes > 0:
        total = sum(r.database_bytes for r in kept)
        for run in kept:
            if total <= policy.max_database_bytes:
                break
            doomed.add(run.run_id)
            total -= run.database_bytes
    return [r.run_id for r in ordered if r.run_id in doomed]


@dataclass
class PruneResult:
    """What a prune removed (and what it could not)."""

    run_ids: list[str] = field(default_factory=list)
    database_bytes: int = 0
    store_bytes: int = 0
    errors: list[str] = field(default_factory=list)


def finished_runs(db: RunDatabase) -> list[FinishedRun]:
    return [FinishedRun(run_id, created, size) for run_id, created, size in db.finished_runs_oldest_first()]


def prune_runs(db: RunDatabase, store: ArtifactStore, run_ids: list[str], *, dry_run: bool = False) -> PruneResult:
    """Removes each run's files from the store, then its rows; a run the store fails on is kept."""
    sizes = {r.run_id: r.database_bytes for r in finished_runs(db)}
    result = PruneResult()
    for run_id in run_ids:
        if run_id not in sizes:
            continue  # unknown, or not finished: never pruned
        prefix = f"runs/{run_id}/"
        try:
            if dry_run:
                result.store_bytes += sum(o.size_bytes for o in store.list(prefix))
            else:
                result.store_bytes += store.delete_prefix(prefix)
        except MleReduxError as exc:
            result.errors.append(f"{run_id}: {exc}")
            continue
        if not dry_run:
            db.delete_run(run_id)
        result.run_ids.append(run_id)
        result.database_bytes += sizes[run_id]
    return result


class StorageKeeper:
    """Runs the storage policy in the background, in worker threads with a database connection of
    their own: compacts each run's events once it has finished (and, at start-up, those a previous
    process left uncompacted), and enforces the retention policy every `interval_seconds`."""

    def __init__(
        self,
        db: RunDatabase,
        store: ArtifactStore,
        policy: RetentionPolicy,
        *,
        interval_seconds: float = 300.0,
        chores: ChoreProcess | None = None,
    ) -> None:
        self.db = db
        #: Compaction runs there when given (decoding a long run's events holds the GIL for seconds).
        self.chores = chores
        self.store = store
        self.policy = policy
        self.interval_seconds = interval_seconds
        self._tasks: set[asyncio.Task[object]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        # One worker at a time: SQLite has one writer, and pruning must not race compaction.
        self._lock = asyncio.Lock()

    def _spawn(self, coro: Coroutine[object, object, object], name: str) -> None:
        task: asyncio.Task[object] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        for run_id in self.db.uncompacted_finished_runs():
            self.run_finished(run_id)
        if self.policy.active:
            self._loop_task = asyncio.create_task(self._enforce_forever(), name="retention")

    def run_finished(self, run_id: str) -> None:
        self._spawn(self._compact(run_id), name=f"compact-{run_id}")

    async def _compact(self, run_id: str) -> int:
        async with self._lock:
            try:
                if self.chores is not None:
                    return await self.chores.run(compact_run, str(self.db.path), run_id)
                return await asyncio.to_thread(self.db.compact, run_id)
            except sqlite3.Error as exc:  # the rows stay; the next start-up tries again
                print(f"run {run_id}: could not compact its events: {exc}", file=sys.stderr, flush=True)
                return 0

    async def prune(self, policy: RetentionPolicy, *, dry_run: bool = False, now_ns: int | None = None) -> PruneResult:
        now = time.time_ns() if now_ns is None else now_ns
        async with self._lock:

            def work() -> PruneResult:
                doomed = select_prunable(finished_runs(self.db), policy, now)
                result = prune_runs(self.db, self.store, doomed, dry_run=dry_run)
                if result.run_ids and not dry_run:
                    self.db.vacuum()
                return result

            return await asyncio.to_thread(work)

    async def _enforce_forever(self) -> None:
        while True:
            try:
                result = await self.prune(self.policy)
                if result.run_ids or result.errors:
                    print(
                        f"retention: pruned {len(result.run_ids)} run(s), {result.database_bytes} database bytes, "
                        f"{result.store_bytes} store bytes; {len(result.errors)} error(s)",
                        file=sys.stderr,
                        flush=True,
                    )
            except (sqlite3.Error, MleReduxError) as exc:
                print(f"retention: {exc}", file=sys.stderr, flush=True)
            await asyncio.sleep(self.interval_seconds)

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self.db.close()
