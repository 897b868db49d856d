"""Grading speed and memory on full-size synthetic submissions shaped like the largest Lite sets.

For each competition a small raw tree is generated and prepared with the real prepare code (so the
answers and the sample have the real format), then answers, sample and a submission are tiled to
the full size with fresh ids. Printed per competition: rows, seconds to grade, seconds per million
rows, peak traced memory as a multiple of the submission CSV's size, and — the baseline measured
in the same process — the ratio of grading time to a bare `pandas.read_csv` of the same file.

Targets (issue #3): under 2 s per million rows, and no more than 3x the CSV's size in memory.

    .venv/bin/python -m benchmarks.grading [--scale 1.0] [--only ID ...]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions import get_competition
from services.grader.grading import grade_submission, read_answers, read_sample
from services.preparer.preparation import prepare_competition
from tests.lite import LiteSpec, all_specs

#: Full-size row counts of the largest Lite test sets (MLE-bench's splits of the Kaggle data).
TARGET_ROWS = {
    "text-normalization-challenge-english-language": 1_000_000,
    "tabular-playground-series-dec-2021": 400_000,
    "jigsaw-toxic-comment-classification-challenge": 153_000,
    "dog-breed-identification": 1_023,
    "spooky-author-identification": 1_958,
}


def _tile(frame: pd.DataFrame, id_column: str, rows: int) -> pd.DataFrame:
    """`frame` repeated to `rows` rows, ids made unique by a copy suffix (ids are text to the grader)."""
    copies = -(-rows // len(frame))
    tiled = pd.concat([frame] * copies, ignore_index=True).iloc[:rows].copy()
    suffix = np.repeat(np.arange(copies), len(frame))[:rows].astype(str)
    tiled[id_column] = tiled[id_column].astype(str).to_numpy() + "_" + suffix
    return tiled


def _timed(fn: Callable[[], object]) -> tuple[float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak


def bench(spec: LiteSpec, rows: int, work: Path) -> dict[str, float]:
    competition = get_competition(spec.competition_id)
    raw = work / "raw"
    raw.mkdir()
    spec.write_raw(raw, np.random.default_rng(0))
    small = prepare_competition(spec.competition_id, work / "small", raw=raw)
    answers = read_answers(small.private_dir / competition.answers_file, competition)
    sample = read_sample(small.public_dir / competition.sample_submission_file, competition)
    answer_id = competition.answers_id_column or competition.id_column
    big_answers = _tile(answers, answer_id, rows)
    big_sample = _tile(sample, competition.id_column, rows)
    # A realistic submission: half the rows right, half the sample's guess, in shuffled order.
    submission = _tile(spec.perfect(answers, sample), competition.id_column, rows)
    half = np.arange(rows) % 2 == 1
    submission.loc[half, :] = big_sample.loc[half, submission.columns].to_numpy()
    submission = submission.sample(frac=1.0, random_state=0)

    data = work / "big"
    private = data / spec.competition_id / "prepared" / "private"
    public = data / spec.competition_id / "prepared" / "public"
    private.mkdir(parents=True)
    public.mkdir(parents=True)
    big_answers.to_csv(private / competition.answers_file, index=False)
    big_sample.to_csv(public / competition.sample_submission_file, index=False)
    shutil.copy(
        work / "small" / spec.competition_id / "leaderboard.csv", data / spec.competition_id / "leaderboard.csv"
    )
    path = work / "submission.csv"
    submission.to_csv(path, index=False)
    size = path.stat().st_size

    read_seconds, read_peak = _timed(lambda: pd.read_csv(path))
    reports: list[object] = []
    grade_seconds, grade_peak = _timed(lambda: reports.append(grade_submission(path, spec.competition_id, data)))
    report = reports[0]
    assert getattr(report, "valid_submission", False), getattr(report, "invalid_reason", None)
    return {
        "rows": rows,
        "csv_mib": size / 2**20,
        "grade_s": grade_seconds,
        "s_per_million": grade_seconds / rows * 1e6,
        "peak_x_csv": grade_peak / size,
        "read_csv_s": read_seconds,
        "grade_over_read": grade_seconds / read_seconds,
        "read_peak_x_csv": read_peak / size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the target row counts (e.g. 0.1)")
    parser.add_argument("--only", nargs="*", help="competition ids")
    args = parser.parse_args()
    specs = {s.competition_id: s for s in all_specs()}
    wanted = args.only or list(TARGET_ROWS)
    print(
        f"{'competition':<48} {'rows':>9} {'CSV MiB':>8} {'grade s':>8} {'s/M rows':>9} "
        f"{'peak/CSV':>9} {'read_csv s':>10} {'grade/read':>10}"
    )
    for competition_id in wanted:
        if competition_id not in specs:
            print(f"{competition_id:<48} skipped: no generator in tests/lite")
            continue
        rows = max(int(TARGET_ROWS.get(competition_id, 100_000) * args.scale), 10)
        with tempfile.TemporaryDirectory(prefix="mleredux-bench-") as tmp:
            result = bench(specs[competition_id], rows, Path(tmp))
        print(
            f"{competition_id:<48} {result['rows']:>9,.0f} {result['csv_mib']:>8.1f} {result['grade_s']:>8.2f} "
            f"{result['s_per_million']:>9.2f} {result['peak_x_csv']:>9.2f} {result['read_csv_s']:>10.2f} "
            f"{result['grade_over_read']:>10.2f}"
        )


if __name__ == "__main__":
    main()
