"""The runner's log lines encoded directly (services/runner/line_encoding.py) are the events the
protobuf API makes, byte for byte, and the sequencer's batches built with it are unchanged."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from mleredux.v1 import common_pb2
from services.runner.line_encoding import encode_log_lines, varint
from services.runner.sequencer import EventSequencer

TEXTS = ["", "0", "plain", 'é "q" \\ \t\x00', "ünï" * 5000, "x" * 20000, "\U0001f600"]


def _by_api(run_id: str, time: Timestamp, stream: int, texts: list[str], first_seq: int) -> bytes:
    batch = common_pb2.RunEventBatch()
    for seq, text in enumerate(texts, first_seq):
        line = batch.events.add(run_id=run_id, seq=seq, time=time).log_line
        line.stream = stream  # type: ignore[assignment]
        line.text = text
    return batch.SerializeToString()


def test_the_fields_it_writes_are_the_messages_own() -> None:
    # A field added, removed or renumbered in either message must be taken into the encoder.
    assert {f.name: f.number for f in common_pb2.RunEvent.DESCRIPTOR.fields if f.containing_oneof is None} == {
        "run_id": 1,
        "seq": 2,
        "time": 3,
    }
    assert common_pb2.RunEvent.DESCRIPTOR.fields_by_name["log_line"].number == 10
    assert {f.name: f.number for f in common_pb2.LogLine.DESCRIPTOR.fields} == {"stream": 1, "text": 2, "partial": 3}
    assert common_pb2.RunEventBatch.DESCRIPTOR.fields_by_name["events"].number == 1


@pytest.mark.parametrize("first_seq", [1, 127, 16383, 16384, (1 << 21) - 2, 1 << 21, 1 << 40])
@pytest.mark.parametrize("stream", [0, common_pb2.LogStream.LOG_STREAM_STDOUT, common_pb2.LogStream.LOG_STREAM_STDERR])
@pytest.mark.parametrize("run_id", ["", "30cf2d762ebe4291"])
@pytest.mark.parametrize("time", [Timestamp(), Timestamp(seconds=1764633600, nanos=123456789)])
def test_log_lines_encode_as_the_api_makes_them(first_seq: int, stream: int, run_id: str, time: Timestamp) -> None:
    assert encode_log_lines(run_id, time, stream, TEXTS, first_seq) == _by_api(run_id, time, stream, TEXTS, first_seq)


def test_varints_of_every_length() -> None:
    for n in [0, 1, 127, 128, 300, 16383, 16384, (1 << 21) - 1, 1 << 21, (1 << 28) + 5, 1 << 62]:
        message = common_pb2.RunEvent(seq=n)
        assert b"\x10" + varint(n) == message.SerializeToString() or n == 0


def test_text_that_is_not_unicode_is_refused_as_the_api_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_log_lines("r", Timestamp(), 1, ["fine", "a\udcff"], 1)
    with pytest.raises(UnicodeEncodeError):
        common_pb2.LogLine().text = "a\udcff"


def test_the_sequencers_batches_hold_each_line_once_in_order_across_batch_boundaries() -> None:
    sequencer = EventSequencer("r1", 1, max_batch=7)
    sequencer.emit_line(common_pb2.LogStream.LOG_STREAM_STDOUT, "first", False)
    texts = [f"line {i}" for i in range(40)]
    sequencer.emit_lines(common_pb2.LogStream.LOG_STREAM_STDERR, texts)
    sequencer.emit_lines(common_pb2.LogStream.LOG_STREAM_STDOUT, ["last"])
    sequencer.flush()
    events = sequencer.events()
    assert [e.seq for e in events] == list(range(1, 43))
    assert [e.log_line.text for e in events] == ["first", *texts, "last"]
    assert [e.log_line.stream for e in events[1:41]] == [common_pb2.LogStream.LOG_STREAM_STDERR] * 40
    assert {e.run_id for e in events} == {"r1"} and all(e.HasField("time") for e in events)
    # The batches the sequencer hands out (what the journal and the gateway get) are whole and bounded.
    sizes = [len(batch.events) for batch in _batches(sequencer)]
    assert sum(sizes) == 42 and max(sizes) <= 7


def _batches(sequencer: EventSequencer) -> list[common_pb2.RunEventBatch]:
    async def collect() -> list[common_pb2.RunEventBatch]:
        out = []
        async for batch in sequencer.batches(0):
            out.append(batch)
            if batch.events[-1].seq == sequencer.last_seq:
                return out
        return out

    return asyncio.run(collect())
