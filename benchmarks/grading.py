"""Grading speed and memory on full-size synthetic submissions shaped like the largest Lite sets.

For each competition a small raw tree is generated and prepared with the real prepare code (so the
answers and the sample have the real format), then answers, sample and a submission are tiled to
the full size with fresh ids. Every figure is measured in a fresh process (so no run inherits
another's memory or warm caches of Python objects), the best of `--repeat` warm runs:

- `floor s`: the physical floor, pyarrow's CSV reader reading the submission and the answers;
- `grade s`: `grade_submission` on the same files, warm (imports done, files in the page cache),
  timed alternately with the floor in the same process, so that a burst of load on a shared
  machine slows both rather than one;
- `x floor`: grade / floor (target: <= 3);
- `mlebench s`, `x mlebench`: MLE-bench's `grade_csv` on the same data dir (MLE-bench layout)
  and its time over ours (target: >= 5), printed when MLE-bench is importable;
- `1-shot s`, `1-shot x`: one whole `mleredux grade-sample` process, start-up included, and a
  whole process doing what `mlebench grade-sample` does, as a ratio (target: >= 2);
- `peak/CSV`: the peak resident memory one (cold) grade adds, as a multiple of the submission's
  size (the kernel's VmHWM, so every allocator counts).

Scores must agree: the benchmark stops if MLE-bench's score differs from ours.

    .venv/bin/python -m benchmarks.grading [--scale 1.0] [--only ID ...] [--repeat 3]

See benchmarks/README.md for installing MLE-bench from its source.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Full-size row counts of the largest Lite test sets (MLE-bench's splits of the Kaggle data).
TARGET_ROWS = {
    "text-normalization-challenge-english-language": 1_000_000,
    "tabular-playground-series-dec-2021": 400_000,
    "jigsaw-toxic-comment-classification-challenge": 153_000,
}

#: A whole process doing what `mlebench grade-sample SUBMISSION ID --data-dir DIR` does, with the
#: leaderboard pointed at the benchmark's own (MLE-bench's are Git LFS files in its repository).
MLEBENCH_ONE_SHOT = """
import dataclasses, json, sys
from pathlib import Path
from mlebench.grade import grade_csv
from mlebench.registry import registry
submission, competition_id, data_dir, leaderboard = sys.argv[1:5]
competition = registry.set_data_dir(Path(data_dir)).get_competition(competition_id)
competition = dataclasses.replace(competition, leaderboard=Path(leaderboard))
report = grade_csv(Path(submission), competition)
print(json.dumps(report.to_dict()))
"""

#: MLE-bench's `grade_csv` per submission in a warm process: the best of REPEAT runs after one.
MLEBENCH_WARM = """
import dataclasses, json, sys, time
from pathlib import Path
from mlebench.grade import grade_csv
from mlebench.registry import registry
submission, competition_id, data_dir, leaderboard, repeat = sys.argv[1:6]
competition = registry.set_data_dir(Path(data_dir)).get_competition(competition_id)
competition = dataclasses.replace(competition, leaderboard=Path(leaderboard))
report = grade_csv(Path(submission), competition)
times = []
for _ in range(int(repeat)):
    start = time.perf_counter()
    grade_csv(Path(submission), competition)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": min(times), "score": report.score}))
"""


def mlebench_python(explicit: str | None) -> str | None:
    """The interpreter that imports MLE-bench: --mlebench-python, $MLEBENCH_PYTHON, or ours when it can."""
    chosen = explicit or os.environ.get("MLEBENCH_PYTHON")
    if chosen:
        return chosen
    return sys.executable if importlib.util.find_spec("mlebench") is not None else None


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _peak(fn: Callable[[], object]) -> int:
    """The peak resident memory (bytes) added while `fn` ran: every allocator counts."""
    baseline = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak, to the current RSS
    fn()
    return max(_rss_kib("VmHWM") - baseline, 0) * 1024


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _child(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one thing in a fresh process (its imports are not timed)."""
    path, data, competition_id = Path(args.child_submission), Path(args.child_data), args.child_competition
    if args.child == "ours":
        from pyarrow import csv

        from mleredux.competitions import get_competition
        from mleredux.grading.submission import grade_submission

        answers = Path(args.child_answers)

        def floor() -> None:
            csv.read_csv(path)
            csv.read_csv(answers)

        get_competition(competition_id)
        reports: list[Any] = []
        peak = _peak(lambda: reports.append(grade_submission(path, competition_id, data)))
        if not reports[0].valid_submission:
            raise SystemExit(f"the benchmark submission is invalid: {reports[0].invalid_reason}")
        floor()
        # Alternately, so that a burst of load on a shared machine slows both, not one.
        floors, grades = [], []
        for _ in range(args.repeat):
            floors.append(_best(floor, 1))
            grades.append(_best(lambda: grade_submission(path, competition_id, data), 1))
        return {"seconds": min(grades), "floor": min(floors), "peak": peak, "score": reports[0].score}
    raise SystemExit(f"unknown child {args.child}")


def _in_child(what: str, **paths: Path | str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.grading", "--child", what, "--repeat", str(REPEAT)]
    for name, value in paths.items():
        command += [f"--child-{name}", str(value)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _one_shot(command: list[str]) -> tuple[float, dict[str, Any]]:
    """Best wall time of a whole process over REPEAT runs, and the report it printed."""
    times, out = [], ""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run(command, check=True, capture_output=True, env=env)  # warms the page cache and .pyc files
    for _ in range(REPEAT):
        start = time.perf_counter()
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        times.append(time.perf_counter() - start)
    report: dict[str, Any] = json.loads(out[out.index("{") :])
    return min(times), report


REPEAT = 3

#: pandas' default missing-value markers. MLE-bench reads text with them (a token "NA" becomes
#: missing, a documented difference); the benchmark replaces them so both graders read the same text.
PANDAS_NA_TEXT = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A"}
    | {"NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)


def _plain_text(frame: Any) -> Any:
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].where(~frame[column].isin(PANDAS_NA_TEXT), "word")
    return frame


def _tile(frame: Any, id_column: str, rows: int) -> Any:
    """`frame` repeated to `rows` rows, with ids made unique per copy."""
    import numpy as np
    import pandas as pd

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


def generate(competition_id: str, rows: int, work: Path) -> tuple[Path, Path, Path, Path]:
    """(data dir, submission, answers, leaderboard) at full size, in MLE-bench's layout."""
    import numpy as np

    from mleredux.competitions import get_competition
    from mleredux.grading.submission import read_answers, read_sample
    from mleredux.preparation.prepare import prepare_competition
    from tests.lite import all_specs

    spec = {s.competition_id: s for s in all_specs()}[competition_id]
    competition = get_competition(competition_id)
    raw = work / "raw"
    raw.mkdir()
    spec.write_raw(raw, np.random.default_rng(0))
    small = prepare_competition(competition_id, work / "small", raw=raw)
    answers = read_answers(small.private_dir / competition.answers_file, competition)
    if competition.answer_columns is not None:
        # The answers as MLE-bench keeps them: every column of the test rows.
        import pandas as pd

        answers = pd.read_csv(small.private_dir / competition.answers_file, dtype={competition.id_column: str})
    sample = _plain_text(read_sample(small.public_dir / competition.sample_submission_file, competition))
    answers = _plain_text(answers)
    answer_id = competition.answers_id_column or competition.id_column
    big_answers = _tile(answers, answer_id, rows)
    big_sample = _tile(sample, competition.id_column, rows)
    # A realistic submission: half the rows right, half the sample's guess, in shuffled order.
    submission = _tile(spec.perfect(answers, sample), competition.id_column, rows)
    half = np.arange(rows) % 2 == 1
    submission.loc[half, :] = big_sample.loc[half, submission.columns].to_numpy()
    submission = submission.sample(frac=1.0, random_state=0)

    data = work / "big"
    private = data / competition_id / "prepared" / "private"
    public = data / competition_id / "prepared" / "public"
    private.mkdir(parents=True)
    public.mkdir(parents=True)
    big_answers.to_csv(private / competition.answers_file, index=False)
    big_sample.to_csv(public / competition.sample_submission_file, index=False)
    if competition.sample_submission_file != "sample_submission.csv":
        big_sample.to_csv(private / "sample_submission.csv", index=False)  # where MLE-bench's config has it
    leaderboard = data / competition_id / "leaderboard.csv"
    shutil.copy(work / "small" / competition_id / "leaderboard.csv", leaderboard)
    path = work / "submission.csv"
    submission.to_csv(path, index=False)
    return data, path, private / competition.answers_file, leaderboard


def bench(competition_id: str, rows: int, work: Path, theirs_python: str | None) -> dict[str, Any]:
    data, path, answers, leaderboard = generate(competition_id, rows, work)
    common: dict[str, Path | str] = {"submission": path, "data": data, "competition": competition_id}
    ours = _in_child("ours", answers=answers, **common)
    home = work / "home"
    ours_cli = [sys.executable, "-m", "mleredux", "--home", str(home), "grade-sample", str(path), competition_id]
    ours_one_shot, ours_report = _one_shot([*ours_cli, "--data-dir", str(data)])
    result: dict[str, Any] = {
        "rows": rows,
        "csv_mib": path.stat().st_size / 2**20,
        "floor_s": ours["floor"],
        "grade_s": ours["seconds"],
        "x_floor": ours["seconds"] / ours["floor"],
        "peak_x_csv": ours["peak"] / path.stat().st_size,
        "one_shot_s": ours_one_shot,
        "score": ours["score"],
    }
    if ours_report["score"] != ours["score"]:
        raise SystemExit(f"{competition_id}: grade-sample scored {ours_report['score']}, in-process {ours['score']}")
    if theirs_python is not None:
        files = [str(path), competition_id, str(data), str(leaderboard)]
        warm = [theirs_python, "-c", MLEBENCH_WARM, *files, str(REPEAT)]
        out = subprocess.run(warm, check=True, capture_output=True, text=True).stdout
        theirs = json.loads(out.strip().splitlines()[-1])
        theirs_one_shot, theirs_report = _one_shot([theirs_python, "-c", MLEBENCH_ONE_SHOT, *files])
        if theirs["score"] != ours["score"] or theirs_report["score"] != ours["score"]:
            raise SystemExit(f"{competition_id}: MLE-bench scored {theirs['score']}, we scored {ours['score']}")
        result |= {
            "mlebench_s": theirs["seconds"],
            "x_mlebench": theirs["seconds"] / ours["seconds"],
            "mlebench_one_shot_s": theirs_one_shot,
            "one_shot_x": theirs_one_shot / ours_one_shot,
        }
    return result


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the target row counts (e.g. 0.1)")
    parser.add_argument("--only", nargs="*", help="competition ids (default: the three largest Lite shapes)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per measurement; the best counts")
    parser.add_argument("--no-mlebench", action="store_true", help="skip MLE-bench even when it is importable")
    parser.add_argument("--mlebench-python", help="an interpreter that imports mlebench (default: $MLEBENCH_PYTHON)")
    for name in ("child", "child-submission", "child-data", "child-competition", "child-answers", "child-leaderboard"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    REPEAT = args.repeat
    if args.child:
        print(json.dumps(_child(args)))
        return
    theirs_python = None if args.no_mlebench else mlebench_python(args.mlebench_python)
    with_mlebench = theirs_python is not None
    if not with_mlebench:
        print("MLE-bench is not importable: our figures and the Arrow floor only (see benchmarks/README.md)")
    header = f"{'competition':<46} {'rows':>9} {'CSV MiB':>7} {'floor s':>7} {'grade s':>7} {'x floor':>7} "
    header += f"{'peak/CSV':>8} {'1-shot s':>8}"
    if with_mlebench:
        header += f" {'mlebench s':>10} {'x mlebench':>10} {'mlebench 1-shot s':>17} {'1-shot x':>8}"
    print(header)
    for competition_id in args.only or list(TARGET_ROWS):
        rows = max(int(TARGET_ROWS.get(competition_id, 100_000) * args.scale), 10)
        with tempfile.TemporaryDirectory(prefix="mleredux-bench-") as tmp:
            r = bench(competition_id, rows, Path(tmp), theirs_python)
        line = f"{competition_id:<46} {r['rows']:>9,} {r['csv_mib']:>7.1f} {r['floor_s']:>7.3f} {r['grade_s']:>7.3f} "
        line += f"{r['x_floor']:>7.2f} {r['peak_x_csv']:>8.2f} {r['one_shot_s']:>8.2f}"
        if with_mlebench:
            line += f" {r['mlebench_s']:>10.3f} {r['x_mlebench']:>10.2f} {r['mlebench_one_shot_s']:>17.2f}"
            line += f" {r['one_shot_x']:>8.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
