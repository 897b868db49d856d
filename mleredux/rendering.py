"""How events and reports look in a terminal."""

from __future__ import annotations

import json
from typing import Any, TextIO

from mleredux.grading.report import report_json
from mleredux.proto_json import struct_to_python
from mleredux.v1 import common_pb2


def state_name(state: int) -> str:
    return common_pb2.RunState.Name(state).removeprefix("RUN_STATE_")  # type: ignore[arg-type]


def reason_name(reason: int) -> str:
    return common_pb2.FailureReason.Name(reason).removeprefix("FAILURE_REASON_")  # type: ignore[arg-type]


def report_dict(report: common_pb2.GradeReport) -> dict[str, Any]:
    """The report in its one JSON shape (the same as report.json and `mleredux grade`)."""
    return report_json(report)


def format_event(event: common_pb2.RunEvent) -> str:
    kind = event.WhichOneof("payload")
    prefix = f"[{event.seq:>5}]"
    if kind == "log_line":
        stream = "stdout" if event.log_line.stream == common_pb2.LogStream.LOG_STREAM_STDOUT else "stderr"
        return f"{prefix} {stream} | {event.log_line.text}"
    if kind == "rollout":
        r = event.rollout
        return f"{prefix} rollout | step {r.step} {r.kind}: {json.dumps(struct_to_python(r.payload))}"
    if kind == "status_change":
        s = event.status_change
        reason = f" ({reason_name(s.reason)})" if s.reason else ""
        code = f" exit={s.exit_code}" if s.HasField("exit_code") else ""
        return f"{prefix} status  | {state_name(s.state)}{reason}{code}: {s.message}"
    if kind == "artifact_stored":
        a = event.artifact_stored
        return f"{prefix} stored  | {a.name} ({a.size_bytes} bytes, sha256 {a.sha256[:12]})"
    if kind == "report":
        report = event.report
        score = f"{report.score:.6g}" if report.HasField("score") else "none"
        medal = next((m for m in ("gold", "silver", "bronze") if getattr(report, f"{m}_medal")), "none")
        return f"{prefix} report  | score {score}, medal {medal}, valid {report.valid_submission}"
    return f"{prefix} (empty event)"


def print_report(report: common_pb2.GradeReport, out: TextIO) -> None:
    out.write(json.dumps(report_dict(report), indent=2) + "\n")
