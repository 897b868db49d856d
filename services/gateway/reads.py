"""Reads that can be large (a replay page of a run's log, a page of runs with their environments),
made on worker threads with connections of their own so that the event loop never decodes them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mleredux.v1 import gateway_pb2
from services.gateway.state import EncodedEvents, RunDatabase

T = TypeVar("T")

#: Worker threads (each with its own SQLite connection); reads in WAL mode never wait for writers.
READ_THREADS = 2


class OffLoopReads:
    def __init__(self, db_path: Path, threads: int = READ_THREADS) -> None:
        self._db_path = db_path
        self._local = threading.local()
        self._opened: list[RunDatabase] = []
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="gateway-reads")

    def _db(self) -> RunDatabase:
        db: RunDatabase | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = RunDatabase(self._db_path)
            with self._lock:
                self._opened.append(db)
        return db

    async def _run(self, read: Callable[[RunDatabase], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: read(self._db()))

    async def encoded_from(self, run_id: str, from_seq: int, limit: int = 1000) -> list[EncodedEvents]:
        return await self._run(lambda db: db.encoded_from(run_id, from_seq, limit))

    async def list_runs(
        self, *, page_size: int, page_token: str, state: int = 0, competition_id: str = "", owner: str | None = None
    ) -> tuple[list[gateway_pb2.Run], str]:
        return await self._run(
            lambda db: db.list_runs(
                page_size=page_size, page_token=page_token, state=state, competition_id=competition_id, owner=owner
            )
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for db in self._opened:
                db.close()
            self._opened.clear()
