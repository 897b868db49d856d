"""Grading speed and memory on full-size synthetic submissions shaped like the largest Lite sets.

For each competition a small raw tree is generated and prepared with the real prepare code (so the
answers and the sample have the real format), then answers, sample and a submission are tiled to
the full size with fresh ids. Printed per competition: rows, seconds to grade, seconds per million
rows, the peak resident memory grading adds (measured in a fresh process through the kernel's
VmHWM, so numpy's and pandas' own allocators count) as a multiple of the submission CSV's size, and,
the baseline measured the same way in this run, a bare `pandas.read_csv` of the same file.

Targets (issue #3): under 2 s per million rows, and no more than 3x the CSV's size in memory.

    .venv/bin/python -m benchmarks.grading [--scale 1.0] [--only ID ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mleredux.competitions import get_competition
from mleredux.grading.submission import grade_submission, read_answers, read_sample
from mleredux.preparation.prepare import prepare_competition
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
    """`frame` repeated to `rows` rows, with ids made unique per copy."""
    copies = -(-rows // len(frame))
    tiled = pd.concat([frame] * copies, ignore_index=True).iloc[:rows].copy()
    copy = np.repeat(np.arange(copies), len(frame))[:rows]
    ids = tiled[id_column]
    if pd.api.types.is_integer_dtype(ids):
        # Integer ids stay integers (as in the real files): each copy is shifted past the last.
        span = int(ids.max()) - int(ids.min()) + 1
        tiled[id_column] = ids.to_numpy() + copy * span
    else:
        tiled[id_column] = ids.astype(str).to_numpy() + "_" + copy.astype(str)
    return tiled


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _measured(fn: Callable[[], object]) -> tuple[float, int]:
    """Seconds, and the peak resident memory (bytes) added while `fn` ran: every allocator counts."""
    baseline = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak, to the current RSS
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return seconds, max(_rss_kib("VmHWM") - baseline, 0) * 1024


def _child(args: argparse.Namespace) -> None:
    """Measure one thing in a fresh process so earlier work leaves no freed-but-kept memory behind."""
    path = Path(args.child_submission)
    if args.child == "read_csv":
        seconds, peak = _measured(lambda: pd.read_csv(path))
        print(json.dumps({"seconds": seconds, "peak": peak}))
        return
    reports: list[Any] = []
    get_competition(args.child)  # imports the registry before the measurement
    seconds, peak = _measured(lambda: reports.append(grade_submission(path, args.child, Path(args.child_data))))
    report = reports[0]
    if not report.valid_submission:
        raise SystemExit(f"the benchmark submission is invalid: {report.invalid_reason}")
    print(json.dumps({"seconds": seconds, "peak": peak}))


def _in_child(what: str, submission: Path, data: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.grading", "--child", what]
    command += ["--child-submission", str(submission), "--child-data", str(data)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


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

    read = _in_child("read_csv", path, data)
    graded = _in_child(spec.competition_id, path, data)
    read_seconds, read_peak = read["seconds"], read["peak"]
    grade_seconds, grade_peak = graded["seconds"], graded["peak"]
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-submission", help=argparse.SUPPRESS)
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    specs = {s.competition_id: s for s in all_specs()}
    wanted = args.only or list(TARGET_ROWS)
    print(
        f"{'competition':<48} {'rows':>9} {'CSV MiB':>8} {'grade s':>8} {'s/M rows':>9} "
        f"{'peak/CSV':>9} {'read_csv s':>10} {'read peak/CSV':>13} {'grade/read':>10}"
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
            f"{result['read_peak_x_csv']:>13.2f} "
            f"{result['grade_over_read']:>10.2f}"
        )


if __name__ == "__main__":
    main()
