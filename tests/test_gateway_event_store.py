"""The gateway's event persistence off the event loop: the writer thread, the run row's log position
and the latest committed batch watchers take from memory (real SQLite files)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from mleredux.proto_json import to_json
from mleredux.store import LocalStore, S3Store
from mleredux.timestamps import now_timestamp
from mleredux.v1 import common_pb2, gateway_pb2
from services.gateway.chores import EventLines, write_run_files
from services.gateway.event_writer import EventWriter
from services.gateway.orchestration import EventHub
from services.gateway.state import RunDatabase, prepare_batch

BIG_ENV = {f"VAR_{i}": "x" * 1000 for i in range(200)}  # ~200 KiB, near the 256 KiB bound


def _run(run_id: str, env: dict[str, str] | None = None) -> gateway_pb2.Run:
    return gateway_pb2.Run(
        run_id=run_id,
        competition_id="demo-digits",
        owner="alice",
        state=common_pb2.RunState.RUN_STATE_RUNNING,
        env=env or {},
        create_time=now_timestamp(),
    )


def _lines(run: gateway_pb2.Run, count: int, first: int | None = None) -> list[common_pb2.RunEvent]:
    start = run.last_seq + 1 if first is None else first
    return [
        common_pb2.RunEvent(run_id=run.run_id, seq=seq, log_line=common_pb2.LogLine(text=f"line {seq}"))
        for seq in range(start, start + count)
    ]


def _stored_data(path: Path, run_id: str) -> bytes:
    with sqlite3.connect(path) as db:
        return bytes(db.execute("SELECT data FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])


def test_a_log_only_batch_writes_the_log_position_not_the_run(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "runs.db")
    run = _run("r1", BIG_ENV)
    db.create_run(run)
    before = _stored_data(db.path, "r1")
    db.append_events(run, _lines(run, 50), run_changed=False)
    assert _stored_data(db.path, "r1") == before  # the 200 KiB protobuf was not rewritten
    assert db.get_run("r1").last_seq == 50
    assert [r.last_seq for r in db.list_runs(page_size=10, page_token="")[0]] == [50]
    assert [r.last_seq for r in db.unfinished_runs()] == [50]
    assert [e.seq for e in db.events_from("r1", 1)] == list(range(1, 51))
    # A batch that changes the run writes it whole again, position included.
    run.message = "changed"
    db.append_events(run, _lines(run, 1))
    assert db.get_run("r1").message == "changed"
    assert db.get_run("r1").last_seq == 51
    # A gap is refused as before.
    with pytest.raises(ValueError, match="does not follow"):
        db.append_events(run, _lines(run, 1, first=60), run_changed=False)
    db.close()


def test_a_database_from_before_the_column_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = _run("old")
    old.last_seq = 7
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, competition_id TEXT NOT NULL, "
            "state INTEGER NOT NULL, created_ns INTEGER NOT NULL, data BLOB NOT NULL)"
        )
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
            ("old", "alice", "demo-digits", old.state, 1, old.SerializeToString()),
        )
    db2 = RunDatabase(path)
    run = db2.get_run("old")
    assert run.last_seq == 7
    db2.append_events(run, _lines(run, 3), run_changed=False)
    assert db2.get_run("old").last_seq == 10
    db2.close()
    assert RunDatabase(path).get_run("old").last_seq == 10  # opening it again adds nothing twice


async def test_the_writer_keeps_each_runs_order_and_one_bad_batch_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    db = RunDatabase(path)
    runs = [_run(f"run{i}") for i in range(4)]
    for run in runs:
        db.create_run(run)
    writer = EventWriter(path)

    async def stream(run: gateway_pb2.Run) -> None:
        for _ in range(40):
            await writer.append(prepare_batch(run, _lines(run, 25), run_changed=False))

    await asyncio.gather(*(stream(run) for run in runs))
    for run in runs:
        assert [e.seq for e in db.events_from(run.run_id, 1, 5000)] == list(range(1, 1001))
        assert db.get_run(run.run_id).last_seq == 1000
    # A batch that collides with stored events fails on its own; the one queued with it lands.
    clash = _run("run0")
    good = runs[1]
    results = await asyncio.gather(
        writer.append(prepare_batch(clash, _lines(clash, 5), run_changed=False)),
        writer.append(prepare_batch(good, _lines(good, 5), run_changed=False)),
        return_exceptions=True,
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] is None
    assert db.get_run(good.run_id).last_seq == 1005
    await writer.close()
    db.close()


async def test_a_cancelled_append_still_lands_before_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    db = RunDatabase(path)
    run = _run("r1")
    db.create_run(run)
    writer = EventWriter(path)
    task = asyncio.create_task(writer.append(prepare_batch(run, _lines(run, 500), run_changed=False)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Whatever the caller writes next follows the cancelled batch, which is already stored.
    assert db.get_run("r1").last_seq == 500
    await writer.close()
    db.close()


def _latest(hub: EventHub, from_seq: int) -> Sequence[common_pb2.RunEvent] | None:
    """What a watcher at `from_seq` of run r1 takes from memory (None: it reads the database)."""
    held = hub.held("r1", from_seq)
    return None if held is None else held.events_from(from_seq)


def test_the_hub_hands_out_only_committed_batches_that_cover_the_request() -> None:
    hub = EventHub()
    run = _run("r1")
    batch = _lines(run, 10)
    assert _latest(hub, 1) is None
    hub.notify("r1", batch)
    assert [e.seq for e in _latest(hub, 1) or []] == list(range(1, 11))
    assert [e.seq for e in _latest(hub, 8) or []] == [8, 9, 10]
    assert _latest(hub, 11) is None  # nothing newer in memory: the watcher waits
    hub.notify("r1", _lines(run, 5, first=11), encoded=b"as received")
    # A watcher a batch behind still reads memory, one batch at a time.
    assert [e.seq for e in _latest(hub, 3) or []] == list(range(3, 11))
    held = hub.held("r1", 11)
    assert held is not None and held.encoded == b"as received" and (held.first_seq, held.last_seq) == (11, 15)
    hub.notify("r1", _lines(run, 3, first=2))  # older than what is held (a late status commit): not kept
    assert [e.seq for e in _latest(hub, 2) or []] == list(range(2, 11))
    hub.notify("r1", _lines(run, 2, first=20))  # a gap after the held ones: held anew from there
    assert _latest(hub, 12) is None and [e.seq for e in _latest(hub, 20) or []] == [20, 21]
    for first in range(22, 22 + 2 * EventHub.HELD_BATCHES, 2):
        hub.notify("r1", _lines(run, 2, first=first))
    assert _latest(hub, 20) is None  # only the newest HELD_BATCHES are kept: storage answers
    hub.forget("r1")
    assert _latest(hub, 40) is None


def test_the_hub_holds_about_its_byte_bound_per_run_and_always_the_newest_batch() -> None:
    hub = EventHub()
    run = _run("r1")
    quarter = b"x" * (EventHub.HELD_BYTES // 4)
    for first in (1, 3, 5, 7, 9):
        hub.notify("r1", _lines(run, 2, first=first), encoded=quarter)
    assert [first for first in (1, 3, 5, 7, 9) if hub.held("r1", first) is not None] == [3, 5, 7, 9]
    hub.notify("r1", _lines(run, 2, first=11), encoded=b"x" * (EventHub.HELD_BYTES * 3))
    assert [first for first in (3, 5, 7, 9, 11) if hub.held("r1", first) is not None] == [11]


def test_events_jsonl_lines_are_the_http_apis_json() -> None:
    # The fast path knows these fields; a field added to either message must be added there too.
    assert [f.name for f in common_pb2.LogLine.DESCRIPTOR.fields] == ["stream", "text", "partial"]
    assert {f.name for f in common_pb2.RunEvent.DESCRIPTOR.fields if f.containing_oneof is None} == {
        "run_id",
        "seq",
        "time",
    }
    stamp = now_timestamp()
    events = [
        common_pb2.RunEvent(run_id="r", seq=1, time=stamp, log_line=common_pb2.LogLine(text="plain")),
        common_pb2.RunEvent(
            run_id="r",
            seq=2**40,
            log_line=common_pb2.LogLine(
                stream=common_pb2.LogStream.LOG_STREAM_STDERR, text='é "q" \\ \t', partial=True
            ),
        ),
        common_pb2.RunEvent(run_id="r", seq=3, time=Timestamp(seconds=5), log_line=common_pb2.LogLine(stream=99)),
        common_pb2.RunEvent(run_id="r", seq=4, time=Timestamp(seconds=5, nanos=1000)),
        common_pb2.RunEvent(
            run_id="r", seq=5, status_change=common_pb2.StatusChange(state=common_pb2.RunState.RUN_STATE_RUNNING)
        ),
    ]
    for event in events:
        assert EventLines()(event) == json.dumps(to_json(event), separators=(",", ":"))
    # One renderer over a run's events keeps the last timestamp's text: each line still has its own.
    same_time = common_pb2.RunEvent(run_id="r", seq=6, time=stamp, log_line=common_pb2.LogLine(text="again"))
    run = [events[0], same_time, *events, same_time, events[2], events[2], events[0]]
    lines = EventLines()
    assert [lines(e) for e in run] == [json.dumps(to_json(e), separators=(",", ":")) for e in run]


class _WatchedStore(LocalStore):
    """A local store that notes what the temp dir holds while a file is being uploaded."""

    def __init__(self, root: Path, temp: Path) -> None:
        super().__init__(root)
        self.temp = temp
        self.seen: list[list[str]] = []

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        self.seen.append(sorted(p.name for p in self.temp.iterdir()))
        super().put_file(key, path, sha256=sha256)


def test_events_jsonl_is_written_through_a_file_with_no_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The chore process is killed with a gateway killed -9, at any moment: a named temp file would be
    # left behind, so none may exist at any point (the upload is the last moment it could).
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    db = RunDatabase(tmp_path / "runs.db")
    run = _run("r1")
    db.create_run(run)
    db.append_events(run, _lines(run, 2500), run_changed=False)  # several pages of events_from
    store = _WatchedStore(tmp_path / "store", temp)
    write_run_files(db, store, "r1", b'{"score": 1}')
    db.close()
    assert store.seen == [[]]
    lines = store.get_bytes("runs/r1/events.jsonl").decode().splitlines()
    assert [int(json.loads(line)["seq"]) for line in lines] == list(range(1, 2501))
    assert store.get_bytes("runs/r1/report.json") == b'{"score": 1}'
    assert list(temp.iterdir()) == []


def test_events_jsonl_from_a_file_with_no_name_reaches_s3(tmp_path: Path, s3_endpoint: str) -> None:
    # The S3 client opens the upload by its path (and stats it for a multipart upload): the /proc path
    # of the unnamed file must serve it as it serves the local store.
    store = S3Store("event-files", s3_endpoint, access_key="k", secret_key="s")
    store.check()
    db = RunDatabase(tmp_path / "runs.db")
    run = _run("r2")
    db.create_run(run)
    db.append_events(run, _lines(run, 1200), run_changed=False)
    write_run_files(db, store, "r2", None)
    db.close()
    lines = store.get_bytes("runs/r2/events.jsonl").decode().splitlines()
    assert [int(json.loads(line)["seq"]) for line in lines] == list(range(1, 1201))
    assert not store.exists("runs/r2/report.json")
