"""Writing an evaluation out: MLE-bench grading reports (one per seed) and the per-run table.

A grading report is the JSON MLE-bench's `grade` writes: its totals (`total_runs`, `total_medals`,
...) plus `competition_reports`, one `CompetitionReport` dict per competition. MLE-bench's aggregate
script reads the reports in path order and, per competition, takes the i-th report it finds as seed
i; so seed k goes to `seed_<k>_grading_report.json` with k zero-padded, one report per competition
of the set, and a run that ended with no report (or has not ended) is written as the zero report.
A `split.txt` (and one per complexity present) lists the set for the script's `--split`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mleredux.evaluation.aggregate import ALL, Aggregate

#: The `CompetitionReport` fields MLE-bench writes, in its order.
COMPETITION_REPORT_FIELDS: tuple[str, ...] = (
    "competition_id",
    "score",
    "gold_threshold",
    "silver_threshold",
    "bronze_threshold",
    "median_threshold",
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "submission_exists",
    "valid_submission",
    "is_lower_better",
    "created_at",
    "submission_path",
)

#: The columns of the per-run table.
RUN_TABLE_FIELDS: tuple[str, ...] = (
    "competition_id",
    "complexity",
    "seed",
    "run_id",
    "attempts",
    "state",
    "failure_reason",
    "system_failure",
    "score",
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "submission_exists",
    "valid_submission",
    "wall_seconds",
)


@dataclass(frozen=True)
class RunRow:
    """One row of the per-run table: the run that stands for (competition, seed) and its outcome."""

    competition_id: str
    complexity: str
    seed: int
    run_id: str
    attempts: int
    state: str
    failure_reason: str
    system_failure: bool
    score: float | None
    any_medal: bool
    gold_medal: bool
    silver_medal: bool
    bronze_medal: bool
    above_median: bool
    submission_exists: bool
    valid_submission: bool
    wall_seconds: float | None


def competition_report(
    competition_id: str, report: Mapping[str, Any] | None, *, is_lower_better: bool = False
) -> dict[str, Any]:
    """An MLE-bench `CompetitionReport` dict from our grade report, or the zero report when None."""
    if report is None:
        return {
            "competition_id": competition_id,
            "score": None,
            "gold_threshold": None,
            "silver_threshold": None,
            "bronze_threshold": None,
            "median_threshold": None,
            "any_medal": False,
            "gold_medal": False,
            "silver_medal": False,
            "bronze_medal": False,
            "above_median": False,
            "submission_exists": False,
            "valid_submission": False,
            "is_lower_better": is_lower_better,
            "created_at": None,
            "submission_path": None,
        }
    out: dict[str, Any] = {name: report.get(name) for name in COMPETITION_REPORT_FIELDS}
    out["competition_id"] = competition_id
    for flag in ("gold_medal", "silver_medal", "bronze_medal", "above_median", "submission_exists", "valid_submission"):
        out[flag] = bool(out[flag])
    out["any_medal"] = out["gold_medal"] or out["silver_medal"] or out["bronze_medal"]
    out["is_lower_better"] = bool(out["is_lower_better"])
    return out


def grading_report(competition_reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """MLE-bench's summary report over competition reports: its totals, then the reports."""

    def total(flag: str) -> int:
        return sum(bool(r[flag]) for r in competition_reports)

    gold, silver, bronze = total("gold_medal"), total("silver_medal"), total("bronze_medal")
    return {
        "total_runs": len(competition_reports),
        "total_runs_with_submissions": total("submission_exists"),
        "total_valid_submissions": total("valid_submission"),
        "total_medals": gold + silver + bronze,
        "total_gold_medals": gold,
        "total_silver_medals": silver,
        "total_bronze_medals": bronze,
        "total_above_median": total("above_median"),
        "competition_reports": [dict(r) for r in competition_reports],
    }


def seed_reports(
    aggregate: Aggregate,
    reports: Mapping[tuple[str, int], Mapping[str, Any]],
    is_lower_better: Mapping[str, bool] | None = None,
) -> list[dict[str, Any]]:
    """One grading report per seed, seed order; `reports` maps (competition, seed) to its grade report."""
    directions = is_lower_better or {}
    out = []
    for seed in range(1, aggregate.seeds + 1):
        rows = [
            competition_report(cid, reports.get((cid, seed)), is_lower_better=directions.get(cid, False))
            for cid in sorted(aggregate.competition_ids)
        ]
        out.append(grading_report(rows))
    return out


def write_mlebench(
    directory: Path,
    aggregate: Aggregate,
    reports: Mapping[tuple[str, int], Mapping[str, Any]],
    is_lower_better: Mapping[str, bool] | None = None,
) -> list[Path]:
    """Writes the per-seed grading reports and the split files into `directory`; returns the report paths."""
    directory.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(aggregate.seeds)))
    paths = []
    for seed, report in enumerate(seed_reports(aggregate, reports, is_lower_better), start=1):
        path = directory / f"seed_{seed:0{width}d}_grading_report.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        paths.append(path)
    for group in aggregate.groups():
        ids = [cid for cid in aggregate.competition_ids if group == ALL or aggregate.group_of(cid) == group]
        name = "split.txt" if group == ALL else f"split_{group}.txt"
        (directory / name).write_text("".join(f"{cid}\n" for cid in ids))
    return paths


def run_table_csv(rows: Sequence[RunRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(RUN_TABLE_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = asdict(row)
        writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
    return buffer.getvalue()


def run_table_json(rows: Sequence[RunRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2) + "\n"
