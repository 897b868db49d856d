"""Event numbering, batching, line splitting and rollout parsing of the runner's live capture."""

from __future__ import annotations

import json
from pathlib import Path

from mleredux.v1 import common_pb2
from services.runner.capture import MAX_LINE_BYTES, EventSequencer, LineSplitter, RolloutTailer

STDOUT = common_pb2.LogStream.LOG_STREAM_STDOUT


async def _drain(sequencer: EventSequencer) -> list[list[common_pb2.RunEvent]]:
    sequencer.close()
    return [batch async for batch in sequencer.batches()]


async def test_sequencer_numbers_gap_free_and_batches_what_is_ready() -> None:
    sequencer = EventSequencer("r", first_seq=7, max_batch=3)
    for i in range(7):
        sequencer.emit(rollout=common_pb2.RolloutEvent(step=i, kind="k"))
    batches = await _drain(sequencer)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [e.seq for b in batches for e in b] == list(range(7, 14))
    assert all(e.run_id == "r" for b in batches for e in b)


async def test_line_splitter_handles_partial_long_and_binary_output() -> None:
    sequencer = EventSequencer("r", first_seq=1)
    splitter = LineSplitter(STDOUT, sequencer)
    splitter.feed(b"hel")
    splitter.feed(b"lo\nwor")
    splitter.feed(b"ld\r\n\xff\xfe bytes\n")
    splitter.feed(b"x" * (MAX_LINE_BYTES + 10))
    splitter.feed(b"tail without newline")
    splitter.flush()
    lines = [e.log_line for b in await _drain(sequencer) for e in b]
    assert [line.text for line in lines[:3]] == ["hello", "world", "\ufffd\ufffd bytes"]
    assert [line.partial for line in lines[:3]] == [False, False, False]
    assert lines[3].partial and len(lines[3].text) == MAX_LINE_BYTES
    assert lines[4].partial and lines[4].text == "x" * 10 + "tail without newline"
    assert all(line.stream == STDOUT for line in lines)


async def test_rollout_tailer_reads_appended_lines_and_warns_on_malformed(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    sequencer = EventSequencer("r", first_seq=1)
    tailer = RolloutTailer(path, sequencer)
    tailer.poll()  # no file yet: nothing, no error
    path.write_text('{"step": 1, "kind": "plan", "payload": {"text": "go"}}\n{"step": 2, "kind": "co')
    tailer.poll()
    with path.open("a") as handle:
        handle.write('de", "payload": {"lines": 3}}\nnot json\n[1, 2]\n{"kind": "metric", "value": 0.5}')
    tailer.poll()
    tailer.poll(final=True)
    events = [e.rollout for b in await _drain(sequencer) for e in b]
    kinds = [(e.step, e.kind) for e in events]
    assert kinds == [(1, "plan"), (2, "code"), (0, "warning"), (0, "warning"), (0, "metric")]
    assert json.loads(events[0].payload_json) == {"text": "go"}
    assert json.loads(events[1].payload_json) == {"lines": 3}
    assert "malformed rollout line" in json.loads(events[2].payload_json)["message"]
    assert json.loads(events[4].payload_json) == {"value": 0.5}
