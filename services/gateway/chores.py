"""The gateway's heavy chores, in a process of their own: writing a finished run's `events.jsonl` and
`report.json` to the store, and compacting its events in the database.

Both go over every event of the run: a 300,000-line run's `events.jsonl` took ~8 CPU-seconds of
JSON when each line was a dict through `json.dumps`, ~2 s as `EventLines` builds it, and its
compaction ~0.3 s (batch encodings are concatenated, never decoded). In a worker thread they held
the GIL against the event loop, and a GetRun that arrived meanwhile waited up to ~70 ms for it; in a
process of their own they cost the loop nothing. The process is started on first use (spawn: never
a fork of a process with gRPC's threads), does one chore at a time (SQLite has one writer), keeps
its database connection and store client between chores, and is started again if it dies. Where no
process can be had, a chore runs in a thread as before.

The process leaves the gateway's session and CPU priority (`_background`): a chore is bulk work, and
at the gateway's nice -10, in its scheduling group, it took that group's weight (about nine default
ones) against Docker's logging, the agents and every client, and shared the group with the event
loop. Measured on 2 cores (benchmarks/README.md): the two chores of two 300,000-line runs used 17.9
CPU-seconds, the most of any process, while the slowest GetRun took 109 ms.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from json.encoder import encode_basestring_ascii as _quoted  # json.dumps's own escaping, in C
from pathlib import Path
from typing import TypeVar

from mleredux.parent_death import die_with_parent
from mleredux.proto_json import to_json
from mleredux.store import ArtifactStore, open_store
from mleredux.v1 import common_pb2
from services.gateway.state import RunDatabase

_T = TypeVar("_T")

#: LogStream values by number, for `EventLines`.
_STREAM_NAMES = {number: name for name, number in common_pb2.LogStream.items()}

# The chore process's own connection and store client, kept between chores.
_databases: dict[str, RunDatabase] = {}
_stores: dict[str, ArtifactStore] = {}


class EventLines:
    """Renders lines of `events.jsonl`: exactly `to_json(event)` (the HTTP API's shape), built directly
    for log lines, nearly all of a long run's events. `to_json` costs ~33 us an event, and even a
    dict through `json.dumps` ~16 us (a new encoder per call, and the timestamp's own formatting);
    here strings go through the json module's C escaping, and a timestamp is formatted once for the
    run of events that share it (the runner stamps one read of the Docker log with one time).
    tests/test_gateway_event_store.py checks the two agree."""

    def __init__(self) -> None:
        self._time: tuple[int, int] | None = None
        self._time_json = "null"

    def _timestamp(self, event: common_pb2.RunEvent) -> str:
        if not event.HasField("time"):
            return "null"
        stamp = event.time
        key = (stamp.seconds, stamp.nanos)
        if key != self._time:
            self._time, self._time_json = key, _quoted(stamp.ToJsonString())
        return self._time_json

    def __call__(self, event: common_pb2.RunEvent) -> str:
        if event.WhichOneof("payload") == "log_line":
            line = event.log_line
            stream = _STREAM_NAMES.get(line.stream)
            if stream is not None:
                return (
                    f'{{"run_id":{_quoted(event.run_id)},"seq":{event.seq},"time":{self._timestamp(event)},'
                    f'"log_line":{{"stream":"{stream}","text":{_quoted(line.text)},'
                    f'"partial":{"true" if line.partial else "false"}}}}}'
                )
        return json.dumps(to_json(event), separators=(",", ":"))


def _database(path: str) -> RunDatabase:
    if path not in _databases:
        _databases[path] = RunDatabase(Path(path))
    return _databases[path]


def write_run_files(db: RunDatabase, store: ArtifactStore, run_id: str, report: bytes | None) -> None:
    """The run's events stream into `events.jsonl` page by page (never whole in memory); it and the
    report (already rendered as JSON) go to the store."""
    # A file with no name (O_TMPFILE), read back through /proc: the chore process dies with a gateway
    # killed -9, and a named temp file was then left in /tmp (the crash tests left one per kill).
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        seq, line = 1, EventLines()
        while events := db.events_from(run_id, seq):
            out.writelines(line(e) + "\n" for e in events)
            seq = events[-1].seq + 1
        out.flush()
        store.put_file(f"runs/{run_id}/events.jsonl", Path(f"/proc/self/fd/{out.fileno()}"))
    if report is not None:
        store.put_bytes(f"runs/{run_id}/report.json", report)


def store_run_files(db_path: str, store_url: str, run_id: str, report: bytes | None) -> None:
    """`write_run_files` in the chore process, by paths and URL."""
    if store_url not in _stores:
        _stores[store_url] = open_store(store_url)
    write_run_files(_database(db_path), _stores[store_url], run_id, report)


def compact_run(db_path: str, run_id: str) -> int:
    """`RunDatabase.compact` in the chore process."""
    return _database(db_path).compact(run_id)


def _background() -> None:
    """The chore process's start: a session (a scheduling group) of its own at the default nice,
    so it weighs as much as any other program's bulk work, and it ends when the gateway does."""
    if os.getsid(0) != os.getpid():
        os.setsid()
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # raising a nice value needs no privilege
    # A pool worker whose parent was killed -9 waits for work forever otherwise (the suite left five).
    die_with_parent()
    gateway = multiprocessing.parent_process()
    if gateway is not None and os.getppid() != gateway.pid:  # it died before the request was made
        os._exit(0)


class ChoreProcess:
    """Runs chores (module-level functions of this module, by value) in the chore process."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._unavailable = False

    def _executor(self) -> Executor | None:
        if self._unavailable:
            return None
        if self._pool is None:
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_background
                )
            except (OSError, ValueError) as exc:
                print(f"gateway: no chore process ({exc}); chores run in threads", file=sys.stderr, flush=True)
                self._unavailable = True
                return None
        return self._pool

    async def run(self, chore: Callable[..., _T], *args: object) -> _T:
        """The chore's result; its own errors are raised here. A chore process that dies is started
        again and the chore tried once more; failing that, it runs in a thread."""
        loop = asyncio.get_running_loop()
        for _ in range(2):
            executor = self._executor()
            if executor is None:
                break
            try:
                return await loop.run_in_executor(executor, chore, *args)
            except BrokenProcessPool:
                print("gateway: the chore process died; starting another", file=sys.stderr, flush=True)
                self._discard()
        return await asyncio.to_thread(chore, *args)

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=False)
