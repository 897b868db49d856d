"""Grade the same submissions with this grader and with MLE-bench's, on every Lite competition, and compare.

For each competition, small raw data is generated (tests/lite), prepared, and graded five ways: the
sample submission, a perfect one, a mixed one (half perfect, half the sample), the mixed one shuffled
with its columns reversed, and a malformed one (rows missing). The leaderboard puts the gold
threshold exactly at the mixed submission's rounded score. RANZCR's data dir is given MLE-bench's
nine-class sample (its layout). MLE-bench runs in its own interpreter (see benchmarks/README.md):

    MLEBENCH_PYTHON=/tmp/mlebench-venv/bin/python .venv/bin/python -m scripts.compare_mlebench

Printed: one line per competition and submission where the two disagree on validity, score or a
medal, then a summary. Differences documented in docs/grading.md are expected (e.g. MLE-bench
accepting predictions outside [0, 1]).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions import get_competition
from mleredux.grading.submission import grade_submission, read_answers, read_sample
from mleredux.preparation.prepare import prepare_competition
from tests.lite import all_specs

MLEBENCH_GRADE = """
import dataclasses, json, sys
from pathlib import Path
from mlebench.grade import grade_csv
from mlebench.registry import registry
data_dir, competition_id, leaderboard, *submissions = sys.argv[1:]
competition = registry.set_data_dir(Path(data_dir)).get_competition(competition_id)
competition = dataclasses.replace(competition, leaderboard=Path(leaderboard))
print(json.dumps([grade_csv(Path(s), competition).to_dict() for s in submissions]))
"""

FLAGS = ("valid_submission", "gold_medal", "silver_medal", "bronze_medal", "above_median")


def main() -> int:
    python = os.environ.get("MLEBENCH_PYTHON")
    if not python:
        print("set MLEBENCH_PYTHON to an interpreter that imports mlebench (benchmarks/README.md)")
        return 2
    disagreements = checked = 0
    for spec in all_specs():
        competition = get_competition(spec.competition_id)
        with tempfile.TemporaryDirectory(prefix="mleredux-compare-") as tmp:
            work = Path(tmp)
            raw = work / "raw"
            raw.mkdir()
            spec.write_raw(raw, np.random.default_rng(11))
            data = work / "data"
            dataset = prepare_competition(spec.competition_id, data, raw=raw)
            if spec.competition_id == "ranzcr-clip-catheter-line-classification":
                from mleredux.competitions.lite.ranzcr_clip_catheter_line_classification import MLEBENCH_CLASSES

                test = pd.read_csv(dataset.private_dir / competition.answers_file)
                nine = test[["StudyInstanceUID", *MLEBENCH_CLASSES]].assign(**dict.fromkeys(MLEBENCH_CLASSES, 0))
                nine.to_csv(dataset.public_dir / competition.sample_submission_file, index=False)
            if spec.competition_id == "detecting-insults-in-social-commentary":
                # MLE-bench's sample: one row per answer row (repeated comments included), Insult first.
                test = pd.read_csv(dataset.private_dir / competition.answers_file, keep_default_na=False)
                layout = test[["Insult", "Date", "Comment"]].assign(Insult=0)
                layout.to_csv(dataset.public_dir / competition.sample_submission_file, index=False)
            if competition.sample_submission_file.endswith(".zip"):
                sample_csv = dataset.private_dir / "sample_submission.csv"  # where MLE-bench's config reads it
                if not sample_csv.is_file():
                    read_sample(dataset.public_dir / competition.sample_submission_file, competition).to_csv(
                        sample_csv, index=False
                    )
            answers = read_answers(dataset.private_dir / competition.answers_file, competition)
            sample = read_sample(dataset.public_dir / competition.sample_submission_file, competition)
            if sample[competition.id_column].duplicated().any():
                # Rows as the answers' (MLE-bench's insults sample): the perfect one copies them row by row.
                targets = [c for c in sample.columns if c in competition.target_columns and c in answers.columns]
                perfect = sample.assign(**{c: answers[c].to_numpy() for c in targets if c != "Date"})
                half = len(perfect) // 2
                mixed = pd.concat([perfect.iloc[:half], sample.iloc[half:]])
            else:
                perfect = spec.perfect(answers, sample)[list(sample.columns)]
                by_id = perfect.set_index(sample.columns[0])
                guess = sample.set_index(sample.columns[0]).loc[by_id.index, by_id.columns]
                half = len(by_id) // 2
                mixed = pd.concat([by_id.iloc[:half], guess.iloc[half:]]).reset_index()
            frames = {
                "sample": sample,
                "perfect": perfect,
                "mixed": mixed,
                "shuffled": mixed.sample(frac=1.0, random_state=3)[list(reversed(mixed.columns))],
                "rows missing": sample.iloc[2:],
            }
            paths = {}
            for name, frame in frames.items():
                paths[name] = work / f"{name.replace(' ', '_')}.csv"
                frame.to_csv(paths[name], index=False)
            leaderboard = data / spec.competition_id / "leaderboard.csv"
            at = grade_submission(paths["mixed"], spec.competition_id, data).score
            if at is not None:
                step = 0.1 if competition.info.is_lower_better else -0.1
                board = [at] + [at + step * (i + 1) for i in range(9)]
                pd.DataFrame({"teamName": [f"t{i}" for i in range(10)], "score": board}).to_csv(
                    leaderboard, index=False
                )
            ours = {name: grade_submission(path, spec.competition_id, data) for name, path in paths.items()}
            command = [python, "-c", MLEBENCH_GRADE, str(data), spec.competition_id, str(leaderboard)]
            done = subprocess.run([*command, *map(str, paths.values())], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{spec.competition_id}: MLE-bench failed: {done.stderr.strip().splitlines()[-1:]}")
                disagreements += 1
                continue
            theirs = dict(zip(paths, json.loads(done.stdout.strip().splitlines()[-1]), strict=True))
            for name in paths:
                checked += 1
                mine, other = ours[name], theirs[name]
                diff = [f for f in FLAGS if getattr(mine, f) != other[f]]
                if mine.score != other["score"]:
                    diff.append("score")
                if diff:
                    disagreements += 1
                    reason = f" ({mine.invalid_reason})" if mine.invalid_reason else ""
                    print(
                        f"{spec.competition_id} [{name}]: differ on {diff}: ours {mine.score} "
                        f"{[getattr(mine, f) for f in FLAGS]}{reason}, MLE-bench {other['score']} "
                        f"{[other[f] for f in FLAGS]}"
                    )
    print(f"{checked} gradings compared, {disagreements} disagreements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
