"""Output without bound: lines and bytes per run are capped; past the cap the capture keeps reading,
makes no more events, and says so once — also after a runner restart resumes the capture."""

from __future__ import annotations

from mleredux import proto_json
from mleredux.v1 import common_pb2
from services.runner.backends.base import OutputChunk
from services.runner.output_capture import OutputCapture
from services.runner.sequencer import EventSequencer


def _lines(sequencer: EventSequencer) -> tuple[list[str], list[str]]:
    sequencer.flush()
    events = sequencer.events()
    lines = [e.log_line.text for e in events if e.HasField("log_line")]
    warnings = [
        proto_json.struct_to_python(e.rollout.payload)["message"] for e in events if e.rollout.kind == "warning"
    ]
    return lines, warnings


def test_output_lines_are_capped_with_one_warning_and_the_cap_survives_a_restart() -> None:
    sequencer = EventSequencer("r", 1)
    capture = OutputCapture(sequencer, max_lines=10)
    frames = [OutputChunk("stdout", f"line {i}\n".encode()) for i in range(1, 31)]
    capture.feed_all(frames[:20])
    # Multi-line frames and partial lines take the splitter's path: capped the same way.
    capture.feed_all([OutputChunk("stderr", b"a\nb\nc\n"), OutputChunk("stdout", b"no newline")])
    capture.finish()
    lines, warnings = _lines(sequencer)
    assert lines == [f"line {i}" for i in range(1, 11)]
    assert warnings == ["output limit of 10 lines per run reached; the run goes on but later output is not recorded"]
    # A restarted runner replays the log from the start: still capped, no second warning.
    resumed = OutputCapture(sequencer, resume_after=tuple(sequencer.cursor["log"]), max_lines=10)  # type: ignore[arg-type]
    resumed.feed_all(frames)
    resumed.finish()
    assert _lines(sequencer) == (lines, warnings)


def test_output_bytes_are_capped() -> None:
    sequencer = EventSequencer("r", 1)
    capture = OutputCapture(sequencer, max_bytes=1000)
    capture.feed_all([OutputChunk("stdout", b"x" * 99 + b"\n") for _ in range(100)])
    capture.feed(OutputChunk("stdout", b"y" * 200_000))  # one huge line without newline, in pieces
    capture.finish()
    lines, warnings = _lines(sequencer)
    assert len(lines) == 10 and sum(map(len, lines)) <= 1000
    assert len(warnings) == 1 and "1000 bytes" in warnings[0]
    assert sequencer.cursor["output"][2] is True  # capped, and kept in the journal's cursor


def test_below_the_caps_nothing_changes() -> None:
    sequencer = EventSequencer("r", 1)
    capture = OutputCapture(sequencer, max_lines=3, max_bytes=100)
    capture.feed_all([OutputChunk("stdout", b"1\n"), OutputChunk("stderr", b"2\n3\n")])
    capture.finish()
    sequencer.flush()
    events = [e for e in sequencer.events() if e.HasField("log_line")]
    assert [(e.log_line.stream, e.log_line.text) for e in events] == [
        (common_pb2.LogStream.LOG_STREAM_STDOUT, "1"),
        (common_pb2.LogStream.LOG_STREAM_STDERR, "2"),
        (common_pb2.LogStream.LOG_STREAM_STDERR, "3"),
    ]
    assert not capture.capped
