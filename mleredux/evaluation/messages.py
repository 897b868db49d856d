"""From an `Evaluation` message (what GetEvaluation answers) to the domain's aggregate, reports and table."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from mleredux.evaluation.aggregate import Aggregate, Outcome
from mleredux.evaluation.export import RunRow
from mleredux.v1 import common_pb2, gateway_pb2


def cell_report(cell: gateway_pb2.EvaluationRun) -> dict[str, Any] | None:
    """The cell's grade report as a dict with MLE-bench's field names, or None (the zero report)."""
    if not cell.HasField("report"):
        return None
    report = json_format.MessageToDict(cell.report, preserving_proto_field_name=True)
    report["competition_id"] = cell.competition_id
    return report


def aggregate_from(evaluation: gateway_pb2.Evaluation) -> Aggregate:
    """The aggregate of the evaluation's cells that have ended (the others count as zero reports)."""
    aggregate = Aggregate(
        list(evaluation.competition_ids),
        evaluation.seeds,
        {cell.competition_id: cell.complexity for cell in evaluation.runs if cell.complexity},
    )
    for cell in evaluation.runs:
        if cell.done:
            report = cell_report(cell)
            aggregate.add(
                Outcome.from_report(report, cell.seed) if report else Outcome.zero(cell.competition_id, cell.seed)
            )
    return aggregate


def reports_from(evaluation: gateway_pb2.Evaluation) -> dict[tuple[str, int], dict[str, Any]]:
    """(competition, seed) -> grade report, for the cells that ended with one."""
    out = {}
    for cell in evaluation.runs:
        report = cell_report(cell)
        if cell.done and report is not None:
            out[(cell.competition_id, cell.seed)] = report
    return out


def run_rows(evaluation: gateway_pb2.Evaluation) -> list[RunRow]:
    rows = []
    for cell in evaluation.runs:
        report = cell.report
        has = cell.HasField("report")
        rows.append(
            RunRow(
                competition_id=cell.competition_id,
                complexity=cell.complexity,
                seed=cell.seed,
                run_id=cell.run_id,
                attempts=cell.attempts,
                state=common_pb2.RunState.Name(cell.state).removeprefix("RUN_STATE_"),
                failure_reason=(
                    common_pb2.FailureReason.Name(cell.failure_reason).removeprefix("FAILURE_REASON_")
                    if cell.failure_reason
                    else ""
                ),
                system_failure=cell.system_failure,
                score=report.score if has and report.HasField("score") else None,
                any_medal=has and report.any_medal,
                gold_medal=has and report.gold_medal,
                silver_medal=has and report.silver_medal,
                bronze_medal=has and report.bronze_medal,
                above_median=has and report.above_median,
                submission_exists=has and report.submission_exists,
                valid_submission=has and report.valid_submission,
                wall_seconds=cell.wall_seconds or None,
            )
        )
    return rows


def directions(evaluation: gateway_pb2.Evaluation) -> dict[str, bool]:
    """is_lower_better per competition, from the reports that have it."""
    return {cell.competition_id: cell.report.is_lower_better for cell in evaluation.runs if cell.HasField("report")}
