"""The runner's live capture: numbering, batching, journaling and resuming; line splitting; rollout parsing."""

from __future__ import annotations

import os
from pathlib import Path

from mleredux.proto_json import struct_to_python
from mleredux.v1 import common_pb2
from services.runner.backends.base import OutputChunk
from services.runner.journal import JournalFile, load_journal
from services.runner.output_capture import MAX_LINE_BYTES, LineSplitter, OutputCapture
from services.runner.rollout import RolloutTailer
from services.runner.sequencer import EventSequencer

STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT
STDERR = common_pb2.LogStream.LOG_STREAM_STDERR


async def _drain(sequencer: EventSequencer, after_seq: int | None = None) -> list[common_pb2.RunEventBatch]:
    sequencer.close()
    return [batch async for batch in sequencer.batches(after_seq)]


def _events(batches: list[common_pb2.RunEventBatch]) -> list[common_pb2.RunEvent]:
    return [e for b in batches for e in b.events]


async def test_sequencer_numbers_gap_free_and_batches_what_is_ready() -> None:
    sequencer = EventSequencer("r", first_seq=7, max_batch=3)
    for i in range(7):
        sequencer.emit(rollout=common_pb2.RolloutEvent(step=i, kind="k"))
    batches = await _drain(sequencer)
    assert [len(b.events) for b in batches] == [3, 3, 1]
    assert [e.seq for e in _events(batches)] == list(range(7, 14))
    assert all(e.run_id == "r" and e.time.seconds > 0 for e in _events(batches))
    # Any follower can start anywhere, mid-batch included.
    assert [e.seq for e in _events([b async for b in sequencer.batches(after_seq=8)])] == list(range(9, 14))


async def test_a_batch_closes_at_its_text_budget_as_well_as_its_event_count() -> None:
    sequencer = EventSequencer("r", first_seq=1, max_batch=10, max_batch_text=100)
    long_lines = ["x" * 30] * 7  # 30 characters each: three fit the budget's 100, the fourth closes it
    sequencer.emit_lines(STDOUT, long_lines)
    sequencer.emit_line(STDOUT, "y" * 250, False)  # the second batch has 90: this long line ends it
    sequencer.emit_lines(STDOUT, ["z"] * 25)  # short lines: the event count closes these
    batches = await _drain(sequencer)
    texts = [[e.log_line.text for e in b.events] for b in batches]
    assert [len(t) for t in texts] == [4, 4, 10, 10, 5]
    assert [e.seq for e in _events(batches)] == list(range(1, 34))  # gap-free across every cut
    assert [t for batch in texts for t in batch] == long_lines + ["y" * 250] + ["z"] * 25
    # No batch holds more text than the budget plus its last line.
    for batch in texts:
        assert sum(map(len, batch[:-1])) < 100


async def test_a_quiet_stream_goes_out_at_once_and_a_busy_one_waits_for_company() -> None:
    import asyncio

    sequencer = EventSequencer("r", first_seq=1, flush_delay=30.0, quiet_after=60.0)
    sequencer.emit_line(STDOUT, "first", False)
    await asyncio.sleep(0)  # one turn of the loop: nothing flushed for a while, so no wait
    assert [e.log_line.text for e in sequencer.events()] == ["first"]
    sequencer.emit_line(STDOUT, "second", False)
    sequencer.emit_line(STDOUT, "third", False)
    await asyncio.sleep(0.05)
    assert sequencer.last_seq == 3 and len(sequencer.events()) == 1  # just flushed: these wait (30 s here)
    sequencer.close()
    assert [len(b.events) for b in [b async for b in sequencer.batches()]] == [1, 2]


async def test_followers_get_live_events_as_they_are_flushed() -> None:
    sequencer = EventSequencer("r", first_seq=1)
    received: list[int] = []

    async def follow() -> None:
        async for batch in sequencer.batches():
            received.extend(e.seq for e in batch.events)

    import asyncio

    task = asyncio.create_task(follow())
    sequencer.emit_line(STDOUT, "one", False)
    await asyncio.sleep(0.01)
    assert received == [1]  # flushed at the end of the loop turn, then handed to the follower
    sequencer.emit_line(STDERR, "two", True)
    sequencer.close()
    await task
    assert received == [1, 2]


async def test_journal_replays_evicted_batches_and_reloads_with_its_cursor(tmp_path: Path) -> None:
    path = tmp_path / "events.journal"
    sequencer = EventSequencer("r", 3, journal=JournalFile.create(path), max_batch=2, keep_batches=1)
    for i in range(5):
        sequencer.emit_line(STDOUT, f"line {i}", False)
        sequencer.cursor["log"] = (i + 1, 1)
        sequencer.flush()
    sequencer.mark(ending="timeout")
    # Only the newest batch is still in memory; followers read the others back from the file.
    assert sum(r.batch is not None for r in sequencer._records) == 1
    texts: list[str] = []
    async for batch in sequencer.batches():
        texts += [e.log_line.text for e in batch.events]
        if batch.events[-1].seq == 7:
            break
    assert texts == [f"line {i}" for i in range(5)]
    sequencer.release()

    loaded = load_journal(path)
    assert [e.seq for r in loaded.records for e in r.batch.events] == [3, 4, 5, 6, 7]  # type: ignore[union-attr]
    assert loaded.cursor == {"log": [5, 1], "ending": "timeout"} and not loaded.closed

    journal, loaded = JournalFile.reopen(path)
    resumed = EventSequencer("r", 3, journal=journal, loaded=loaded)
    assert resumed.next_seq == 8 and resumed.cursor["ending"] == "timeout"
    resumed.emit_line(STDOUT, "after restart", False)
    resumed.close()
    resumed.release()
    final = load_journal(path)
    assert final.closed and [e.seq for r in final.records for e in r.batch.events] == list(range(3, 9))  # type: ignore[union-attr]


def test_torn_journal_tail_is_dropped_back_to_the_last_committed_flush(tmp_path: Path) -> None:
    path = tmp_path / "events.journal"
    journal = JournalFile.create(path)
    first = common_pb2.RunEventBatch(events=[common_pb2.RunEvent(run_id="r", seq=1)])
    journal.append([first], {"cursor": {"log": [1, 1]}})
    committed = journal.size
    second = [common_pb2.RunEventBatch(events=[common_pb2.RunEvent(run_id="r", seq=s)]) for s in (2, 3)]
    journal.append(second, {"cursor": {"log": [3, 1]}})
    journal.close()
    # A kill -9 in the middle of the second flush's write: cut it inside its last record.
    os.truncate(path, path.stat().st_size - 3)
    loaded = load_journal(path)
    assert [r.last_seq for r in loaded.records] == [1]
    assert loaded.cursor == {"log": [1, 1]} and loaded.size == committed
    reopened, _ = JournalFile.reopen(path)
    reopened.close()
    assert path.stat().st_size == committed


async def test_output_capture_resumes_after_the_last_line_sent() -> None:
    frames = [
        OutputChunk("stdout", b"a1\na2\n"),
        OutputChunk("stderr", b"e1 part"),
        OutputChunk("stdout", b"a3\n"),
        OutputChunk("stderr", b"ial\ne2\n"),
        OutputChunk("stdout", b"tail"),
    ]
    # Lines completed by frame f are (f, 1), (f, 2), ...; the end of the output counts as a frame.
    positions: list[tuple[int, int]] = []
    full = EventSequencer("r", 1)
    capture = OutputCapture(full)
    for number, frame in enumerate([*frames, None], start=1):
        before = full.last_seq
        if frame is None:
            capture.finish()
        else:
            capture.feed(frame)
        positions += [(number, line) for line in range(1, full.last_seq - before + 1)]
        if full.last_seq > before:
            assert full.cursor["log"] == positions[-1]
    everything = [(e.log_line.stream, e.log_line.text, e.log_line.partial) for e in _events(await _drain(full))]
    assert everything == [
        (STDOUT, "a1", False),
        (STDOUT, "a2", False),
        (STDOUT, "a3", False),
        (STDERR, "e1 partial", False),
        (STDERR, "e2", False),
        (STDOUT, "tail", True),
    ]
    assert positions == [(1, 1), (1, 2), (3, 1), (4, 1), (4, 2), (6, 1)]
    # A restarted runner that had sent the first k lines replays the same frames from the start
    # and emits exactly the rest, partial lines rebuilt, wherever the cut fell.
    for k in range(len(everything) + 1):
        sequencer = EventSequencer("r", k + 1)
        resumed = OutputCapture(sequencer, resume_after=positions[k - 1] if k else (0, 0))
        for frame in frames:
            resumed.feed(frame)
        resumed.finish()
        rest = [(e.log_line.stream, e.log_line.text, e.log_line.partial) for e in _events(await _drain(sequencer))]
        assert rest == everything[k:], k


async def test_line_splitter_handles_partial_long_and_binary_output() -> None:
    lines: list[tuple[int, str, bool]] = []
    splitter = LineSplitter(STDOUT, lambda stream, text, partial: lines.append((stream, text, partial)))
    splitter.feed(b"hel")
    splitter.feed(b"lo\nwor")
    splitter.feed(b"ld\r\n\xff\xfe bytes\n")
    splitter.feed(b"x" * (MAX_LINE_BYTES + 10))
    splitter.feed(b"tail without newline")
    splitter.flush()
    assert [text for _, text, _ in lines[:3]] == ["hello", "world", "\ufffd\ufffd bytes"]
    assert [partial for _, _, partial in lines[:3]] == [False, False, False]
    assert lines[3][2] and len(lines[3][1]) == MAX_LINE_BYTES
    assert lines[4][2] and lines[4][1] == "x" * 10 + "tail without newline"
    assert all(stream == STDOUT for stream, _, _ in lines)


async def test_rollout_tailer_reads_appended_lines_and_warns_on_malformed(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    sequencer = EventSequencer("r", first_seq=1)
    tailer = RolloutTailer(path, sequencer)
    tailer.poll()  # no file yet: nothing, no error
    path.write_text('{"step": 1, "kind": "plan", "payload": {"text": "go"}}\n{"step": 2, "kind": "co')
    tailer.poll()
    assert sequencer.cursor["rollout"] == path.read_bytes().index(b"\n") + 1
    with path.open("a") as handle:
        handle.write('de", "payload": {"lines": 3}}\nnot json\n[1, 2]\n{"kind": "metric", "value": 0.5}')
    tailer.poll()
    tailer.poll(final=True)
    events = [e.rollout for e in _events(await _drain(sequencer))]
    kinds = [(e.step, e.kind) for e in events]
    assert kinds == [(1, "plan"), (2, "code"), (0, "warning"), (0, "warning"), (0, "metric")]
    assert struct_to_python(events[0].payload) == {"text": "go"}
    assert sequencer.cursor["rollout"] == path.stat().st_size


async def test_rollout_tailer_resumes_at_its_offset_and_refuses_symlinks(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_text('{"kind": "a"}\n{"kind": "b"}\n')
    sequencer = EventSequencer("r", first_seq=1)
    RolloutTailer(path, sequencer, offset=len('{"kind": "a"}\n')).poll(final=True)
    secret = tmp_path / "host-secret"
    secret.write_text('{"kind": "stolen"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(secret)
    RolloutTailer(link, sequencer).poll(final=True)
    events = [e.rollout for e in _events(await _drain(sequencer))]
    assert [e.kind for e in events] == ["b", "warning"]
    assert "symlink" in struct_to_python(events[1].payload)["message"]


def _lines_and_cursor(chunks: list[OutputChunk], **caps: int) -> tuple[list[tuple[int, str, bool]], dict[str, object]]:
    sequencer = EventSequencer("r", first_seq=1)
    capture = OutputCapture(sequencer, **caps)
    capture.feed_all(chunks)
    capture.finish()
    sequencer.close()
    events = sequencer.events()
    lines = [(e.log_line.stream, e.log_line.text, e.log_line.partial) for e in events if e.HasField("log_line")]
    warnings = [struct_to_python(e.rollout.payload) for e in events if e.HasField("rollout")]
    return lines, {**sequencer.cursor, "warnings": warnings, "frames": capture.frames}


def test_merged_whole_line_frames_give_what_the_same_frames_one_by_one_give() -> None:
    frames = [OutputChunk("stdout", f"{i}\n".encode()) for i in range(1, 1201)]
    frames[7] = OutputChunk("stdout", b"caf\xc3\xa9 \xff\r\n")  # UTF-8, an invalid byte, a CR
    merged = [
        OutputChunk("stdout", b"".join(f.data for f in frames[:600]), 600),
        OutputChunk("stderr", b"err\n"),
        OutputChunk("stdout", b"".join(f.data for f in frames[600:]), 600),
    ]
    one_by_one = [*frames[:600], OutputChunk("stderr", b"err\n"), *frames[600:]]
    # Within the caps, and with each cap falling inside a merged chunk.
    for caps in ({}, {"max_lines": 650}, {"max_bytes": 3000}):
        assert _lines_and_cursor(merged, **caps) == _lines_and_cursor(one_by_one, **caps)
    lines, cursor = _lines_and_cursor(merged)
    assert len(lines) == 1201 and lines[7] == (STDOUT, "caf\u00e9 \ufffd", False)
    assert cursor["log"] == (1201, 1) and cursor["frames"] == 1202  # finish() counts one more
    # A batch boundary (at 500 events here) inside a merged chunk numbers on gap-free.
    sequencer = EventSequencer("r", first_seq=1, max_batch=500)
    OutputCapture(sequencer).feed_all(merged)
    assert [e.seq for e in sequencer.events()] == [] and sequencer.next_seq == 1202
    sequencer.close()
    assert [e.seq for e in sequencer.events()] == list(range(1, 1202))


async def test_a_resumed_capture_skips_into_the_middle_of_a_merged_chunk() -> None:
    from services.runner.execution import _without_first_frames

    frames = [OutputChunk("stdout", f"{i}\n".encode()) for i in range(1, 11)]
    merged = [OutputChunk("stdout", b"".join(f.data for f in frames[:6]), 6), *frames[6:]]
    assert [c.data for c in _without_first_frames(merged, 4)] == [b"5\n", b"6\n", b"7\n", b"8\n", b"9\n", b"10\n"]
    assert _without_first_frames(merged, 6) == frames[6:]
    assert _without_first_frames(merged, 0) == merged
    # A restarted capture resuming after line 4 emits lines 5.. only, from merged input.
    sequencer = EventSequencer("r", first_seq=1)
    capture = OutputCapture(sequencer, resume_after=(4, 1))
    capture.feed_all(merged)
    sequencer.close()
    assert [e.log_line.text for e in sequencer.events()] == [str(i) for i in range(5, 11)]
