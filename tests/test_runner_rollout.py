"""Nothing an agent writes to rollout.jsonl can stop the run's capture: hostile lines become warnings,
and the events taken from the file are capped per run (one warning says the cap was hit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleredux import proto_json
from mleredux.v1 import common_pb2
from services.runner.rollout import RolloutTailer, rollout_event_from_line
from services.runner.sequencer import EventSequencer

HOSTILE_LINES = [
    b'{"step": Infinity}',
    b'{"step": -Infinity, "kind": "x"}',
    b'{"step": NaN}',
    b'{"step": 1e400}',
    b'{"step": 1.5}',
    b'{"step": 99999999999999999999999999}',
    b'{"step": "' + b"9" * 5000 + b'"}',
    b'{"step": ' + b"9" * 5000 + b"}",
    b'{"payload": {"v": 1e400}}',
    b'{"payload": [' + b"1e999," * 10 + b"1]}",
    b"[" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"\xff\xfe not utf-8 {",
    b'{"kind": {"nested": 1}, "step": [1]}',
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=range(len(HOSTILE_LINES)))
def test_a_hostile_rollout_line_becomes_a_warning(line: bytes) -> None:
    event = rollout_event_from_line(line)
    assert event.kind == "warning"
    payload = proto_json.struct_to_python(event.payload)  # and the warning itself is valid, finite JSON
    assert payload["message"].startswith("malformed rollout line")
    assert len(payload["line"]) <= 2000


def test_large_but_finite_numbers_and_moderate_nesting_are_kept() -> None:
    event = rollout_event_from_line(b'{"step": 7, "kind": "metric", "payload": {"v": 1e300, "d": [[[[1]]]]}}')
    assert (event.step, event.kind) == (7, "metric")
    assert proto_json.struct_to_python(event.payload) == {"v": 1e300, "d": [[[[1]]]]}
    assert rollout_event_from_line(b'{"step": 3.0}').step == 3


async def test_hostile_lines_in_the_file_do_not_stop_the_lines_after_them(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(b"\n".join([*HOSTILE_LINES, b'{"step": 2, "kind": "after"}']) + b"\n")
    sequencer = EventSequencer("r", first_seq=1)
    tailer = RolloutTailer(path, sequencer, max_bytes=1 << 30)
    tailer.safe_poll(final=True)
    sequencer.flush()
    kinds = [e.rollout.kind for e in sequencer.events()]
    assert kinds == ["warning"] * len(HOSTILE_LINES) + ["after"]


async def test_rollout_events_are_capped_per_run_with_one_warning_and_the_cap_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_text("".join(f'{{"step": {i}}}\n' for i in range(10)))
    sequencer = EventSequencer("r", first_seq=1)
    RolloutTailer(path, sequencer, max_events=4).safe_poll()
    with path.open("a") as handle:
        handle.write("".join(f'{{"step": {i}}}\n' for i in range(10, 1000)))
    # A restarted runner builds a new tailer from the cursor: still capped, no second warning.
    RolloutTailer(path, sequencer, offset=sequencer.cursor["rollout"], max_events=4).safe_poll(final=True)
    sequencer.flush()
    events = [e.rollout for e in sequencer.events()]
    assert [e.step for e in events[:4]] == [0, 1, 2, 3]
    assert len(events) == 5
    assert events[4].kind == "warning" and "4 events" in proto_json.struct_to_python(events[4].payload)["message"]
    assert sequencer.cursor["rollout"] == path.stat().st_size


async def test_rollout_bytes_are_capped_per_run(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    line = '{"step": 10, "payload": "' + "x" * 73 + '"}'  # 100 bytes
    path.write_text(f"{line}\n" * 100)
    sequencer = EventSequencer("r", first_seq=1)
    RolloutTailer(path, sequencer, max_bytes=1000).safe_poll(final=True)
    sequencer.flush()
    events: list[common_pb2.RolloutEvent] = [e.rollout for e in sequencer.events()]
    assert [e.kind for e in events] == ["event"] * 10 + ["warning"]
    assert "1000 bytes" in proto_json.struct_to_python(events[-1].payload)["message"]


async def test_warnings_about_the_file_itself_count_towards_the_cap(tmp_path: Path) -> None:
    """An agent truncating its rollout file again and again cannot make warnings without bound."""
    path = tmp_path / "rollout.jsonl"
    sequencer = EventSequencer("r", first_seq=1)
    tailer = RolloutTailer(path, sequencer, max_events=5)
    for _ in range(50):
        path.write_text('{"step": 1}\n{"step": 2}\n')
        tailer.safe_poll()
        path.write_text("")
        tailer.safe_poll()
    sequencer.flush()
    events = [e.rollout for e in sequencer.events()]
    assert len(events) == 6
    assert proto_json.struct_to_python(events[-1].payload)["message"].startswith("rollout limit of 5 events")
