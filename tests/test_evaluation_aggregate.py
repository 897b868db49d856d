"""Aggregate figures as MLE-bench computes them, checked against figures worked out by hand, and the
MLE-bench export read back the way MLE-bench's aggregate script reads it."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mleredux.errors import InvalidArgumentError
from mleredux.evaluation.aggregate import FIGURES, MLEBENCH_NAMES, Aggregate, Figure, Outcome, aggregate_of
from mleredux.evaluation.export import (
    RunRow,
    competition_report,
    run_table_csv,
    run_table_json,
    seed_reports,
    write_mlebench,
)
from mleredux.evaluation.splits import complexity_of, split_competitions

# Two competitions, three seeds. Worked by hand below; B in seed 2 never reported (the zero report).
COMPLEXITY = {"a": "low", "b": "medium"}
OUTCOMES = [
    Outcome("a", 1, gold_medal=True, above_median=True, submission_exists=True, valid_submission=True, score=0.9),
    Outcome("b", 1, above_median=True, submission_exists=True, valid_submission=True, score=0.5),
    Outcome("a", 2, bronze_medal=True, above_median=True, submission_exists=True, valid_submission=True, score=0.8),
    Outcome("a", 3, submission_exists=True),  # an invalid submission: exists, not valid, no score
    Outcome("b", 3, silver_medal=True, above_median=True, submission_exists=True, valid_submission=True, score=0.7),
]
SEM_ONE_SIXTH = 100 / 6  # the sem of {50, 0, 0} and of every other 3-seed spread of one 50-point step


def close(figure: Figure, mean: float, sem: float) -> None:
    assert figure.mean == pytest.approx(mean)
    assert figure.standard_error == pytest.approx(sem)
    assert figure.ci_lower == pytest.approx(mean - 1.96 * sem)
    assert figure.ci_upper == pytest.approx(mean + 1.96 * sem)


def test_overall_figures_match_the_hand_computation() -> None:
    overall = aggregate_of(["a", "b"], 3, OUTCOMES, COMPLEXITY).group()
    assert overall.competitions == 2 and overall.seeds == 3
    # any medal: seeds 50, 50, 50 (gold a; bronze a; silver b)
    close(overall.figures["any_medal"], 50.0, 0.0)
    # gold: 50, 0, 0 -> mean 16.67, sd 28.87, sem 16.67
    close(overall.figures["gold_medal"], 50 / 3, SEM_ONE_SIXTH)
    close(overall.figures["silver_medal"], 50 / 3, SEM_ONE_SIXTH)
    close(overall.figures["bronze_medal"], 50 / 3, SEM_ONE_SIXTH)
    # above median: 100, 50, 50 ; valid: 100, 50, 50 ; exists: 100, 50, 100
    close(overall.figures["above_median"], 200 / 3, SEM_ONE_SIXTH)
    close(overall.figures["valid_submission"], 200 / 3, SEM_ONE_SIXTH)
    close(overall.figures["submission_exists"], 250 / 3, SEM_ONE_SIXTH)
    assert overall.per_seed[1]["valid_submission"] == 50.0


def test_complexity_groups_and_per_competition_scores() -> None:
    aggregate = aggregate_of(["a", "b"], 3, OUTCOMES, COMPLEXITY)
    assert aggregate.groups() == ["all", "low", "medium"]
    low = aggregate.group("low")
    assert low.competitions == 1
    # a: any medal 100, 100, 0 -> mean 66.67, sd 57.74, sem 33.33
    close(low.figures["any_medal"], 200 / 3, 100 / 3)
    medium = aggregate.group("medium")
    close(medium.figures["valid_submission"], 200 / 3, 100 / 3)
    a, b = aggregate.competitions()
    assert (a.scored, b.scored) == (2, 2)
    assert a.score_mean == pytest.approx(0.85) and a.score_std == pytest.approx(math.sqrt(0.005))
    assert b.score_mean == pytest.approx(0.6) and b.score_std == pytest.approx(math.sqrt(0.02))
    assert (b.score_min, b.score_max) == (0.5, 0.7)
    with pytest.raises(InvalidArgumentError, match="group 'high'"):
        aggregate.group("high")


def test_a_single_seed_has_zero_standard_error() -> None:
    figure = aggregate_of(["a"], 1, [OUTCOMES[0]]).group().figures["gold_medal"]
    assert (figure.mean, figure.standard_error, figure.ci_lower, figure.ci_upper) == (100.0, 0.0, 100.0, 100.0)


def test_missing_runs_count_as_zero_reports() -> None:
    aggregate = Aggregate(["a", "b"], 2)
    assert aggregate.group().figures["submission_exists"].mean == 0.0
    aggregate.add(OUTCOMES[0])
    # seed 1: a exists (50%), seed 2: nothing -> 25 mean
    assert aggregate.group().figures["submission_exists"].mean == 25.0
    assert not aggregate.complete and aggregate.recorded == 1
    assert aggregate.outcome("b", 2) == Outcome.zero("b", 2)


def test_incremental_equals_batch_in_any_order_and_a_retry_replaces() -> None:
    rng = random.Random(7)
    ids = [f"c{i}" for i in range(9)]
    complexity = {cid: ("low", "medium", "high")[i % 3] for i, cid in enumerate(ids)}
    outcomes = []
    for cid in ids:
        for seed in range(1, 5):
            flags = {f: rng.random() < 0.4 for f in ("gold_medal", "above_median", "submission_exists")}
            outcomes.append(
                Outcome(cid, seed, valid_submission=flags["submission_exists"], score=rng.random(), **flags)
            )
    batch = aggregate_of(ids, 4, outcomes, complexity)
    shuffled = outcomes[:]
    rng.shuffle(shuffled)
    live = Aggregate(ids, 4, complexity)
    # first a failed attempt of every run, then the real outcome replaces it
    for outcome in shuffled:
        live.add(Outcome(outcome.competition_id, outcome.seed, submission_exists=True, score=123.0))
    for outcome in shuffled:
        live.add(outcome)
    for group in batch.groups():
        for figure in FIGURES:
            assert live.group(group).figures[figure].mean == pytest.approx(batch.group(group).figures[figure].mean)
            assert live.group(group).figures[figure].standard_error == pytest.approx(
                batch.group(group).figures[figure].standard_error
            )
    for x, y in zip(live.competitions(), batch.competitions(), strict=True):
        assert x.score_mean == pytest.approx(y.score_mean)
        assert x.score_std == pytest.approx(y.score_std)
        assert (x.score_min, x.score_max) == (y.score_min, y.score_max)


def test_bad_outcomes_are_refused() -> None:
    aggregate = Aggregate(["a"], 2)
    with pytest.raises(InvalidArgumentError, match="not in the evaluation"):
        aggregate.add(Outcome("zzz", 1))
    with pytest.raises(InvalidArgumentError, match="seed 3"):
        aggregate.add(Outcome("a", 3))
    with pytest.raises(InvalidArgumentError, match="at least one seed"):
        Aggregate(["a"], 0)


def test_named_splits_come_from_the_registry() -> None:
    # MLE-bench's experiments/splits: low (= Lite) 22, medium 38, high 15, all 75, dev 7.
    assert [len(split_competitions(n)) for n in ("lite", "low", "medium", "high", "all", "dev")] == [
        22,
        22,
        38,
        15,
        75,
        7,
    ]
    assert split_competitions("lite") == split_competitions("low")
    assert "demo-digits" in split_competitions("demo")
    assert set(complexity_of(split_competitions("high")).values()) == {"high"}
    with pytest.raises(InvalidArgumentError, match="unknown split 'huge'"):
        split_competitions("huge")


def _read_like_mlebench(paths: list[Path], split: list[str]) -> dict[str, tuple[float, float]]:
    """The reading rules of MLE-bench's aggregate script, applied independently with numpy/scipy:
    reports in path order, each report's competitions by id, the i-th report of a competition is seed i."""
    per_competition: dict[str, list[dict[str, object]]] = defaultdict(list)
    for path in sorted(paths, key=str):
        report = json.loads(path.read_text())
        for row in sorted(report["competition_reports"], key=lambda r: str(r["competition_id"])):
            per_competition[row["competition_id"]].append(row)
    seeds = min(len(per_competition[cid]) for cid in split)
    values: dict[str, list[float]] = defaultdict(list)
    for i in range(seeds):
        rows = [per_competition[cid][i] for cid in split]
        n = len(rows)
        values["any_medal_percentage"].append(
            sum(bool(r["gold_medal"] or r["silver_medal"] or r["bronze_medal"]) for r in rows) / n * 100
        )
        for name in ("gold_medal", "silver_medal", "bronze_medal", "above_median", "submission_exists"):
            values[MLEBENCH_NAMES[name]].append(sum(bool(r[name]) for r in rows) / n * 100)
        values["valid_submissions_percentage"].append(sum(bool(r["valid_submission"]) for r in rows) / n * 100)
    return {k: (float(np.mean(v)), float(stats.sem(v, ddof=1)) if len(v) > 1 else 0.0) for k, v in values.items()}


def test_mlebench_export_reads_back_to_the_same_means_and_sems(tmp_path: Path) -> None:
    ids = ["b", "a"]  # not sorted: the export must not depend on the set's order
    aggregate = aggregate_of(ids, 3, OUTCOMES, COMPLEXITY)
    reports = {
        (o.competition_id, o.seed): {
            "competition_id": o.competition_id,
            "score": o.score,
            "gold_threshold": 0.95,
            "silver_threshold": 0.9,
            "bronze_threshold": 0.85,
            "median_threshold": 0.5,
            "any_medal": o.any_medal,
            "gold_medal": o.gold_medal,
            "silver_medal": o.silver_medal,
            "bronze_medal": o.bronze_medal,
            "above_median": o.above_median,
            "submission_exists": o.submission_exists,
            "valid_submission": o.valid_submission,
            "is_lower_better": False,
            "created_at": "2026-01-01T00:00:00+00:00",
            "submission_path": "runs/x/submission/submission.csv",
            "grader_version": "ours only",
        }
        for o in OUTCOMES
    }
    paths = write_mlebench(tmp_path, aggregate, reports)
    assert [p.name for p in paths] == [f"seed_00{k}_grading_report.json" for k in (1, 2, 3)]
    assert (tmp_path / "split.txt").read_text() == "b\na\n"
    assert (tmp_path / "split_low.txt").read_text() == "a\n"
    for group, split in (("all", ids), ("low", ["a"]), ("medium", ["b"])):
        theirs = _read_like_mlebench(paths, split)
        ours = aggregate.group(group).figures
        for figure in FIGURES:
            mean, sem = theirs[MLEBENCH_NAMES[figure]]
            assert ours[figure].mean == pytest.approx(mean)
            assert ours[figure].standard_error == pytest.approx(sem)
    seed2 = json.loads(paths[1].read_text())
    assert seed2["total_runs"] == 2 and seed2["total_medals"] == 1 and seed2["total_valid_submissions"] == 1
    b_seed2 = next(r for r in seed2["competition_reports"] if r["competition_id"] == "b")
    assert b_seed2 == competition_report("b", None)  # never reported: the zero report
    assert "grader_version" not in seed2["competition_reports"][0]  # only MLE-bench's fields


def test_seed_reports_cover_every_competition_in_every_seed() -> None:
    aggregate = Aggregate(["x", "y", "z"], 2)
    reports = seed_reports(aggregate, {})
    assert [r["total_runs"] for r in reports] == [3, 3]
    assert all(not r["competition_reports"][0]["submission_exists"] for r in reports)


def test_run_table_as_csv_and_json() -> None:
    row = RunRow("a", "low", 1, "r1", 2, "SUCCEEDED", "", False, 0.5, True, True, False, False, True, True, True, 3.5)
    empty = RunRow("b", "low", 1, "", 0, "QUEUED", "", False, None, *([False] * 7), None)
    text = run_table_csv([row, empty])
    lines = text.splitlines()
    assert lines[0].startswith("competition_id,complexity,seed,run_id,attempts,state")
    assert lines[1].startswith("a,low,1,r1,2,SUCCEEDED,,False,0.5,True")
    assert lines[2].split(",")[8] == ""  # no score
    assert json.loads(run_table_json([row]))[0]["wall_seconds"] == 3.5


def test_concurrent_first_lookups_see_the_whole_registry() -> None:
    # Evaluations make the services' first lookups concurrent; each must wait for the registry to load.
    code = """
import threading
from mleredux.competitions import registry
from mleredux.errors import UnknownCompetitionError
errors = []
def look():
    try:
        registry.get_competition("demo-digits")
    except UnknownCompetitionError as exc:
        errors.append(exc)
threads = [threading.Thread(target=look) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(errors))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "0", done.stderr
