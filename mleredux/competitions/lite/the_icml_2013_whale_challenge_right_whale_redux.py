"""the-icml-2013-whale-challenge-right-whale-redux: is a right-whale up-call in a 2 s clip; ROC AUC.

Split (MLE-bench's): Kaggle's labelled clips (`train2.zip`: `train2/<YYYYMMDD>_<HHMMSS>_<offset>_TRAIN<n>_<label>.aif`)
span four recording days. The clips of the first two days (by date) become the new train set and
those of the last two the new test set. Each set is sorted by file name (so by time) and
renumbered from 0: train clips keep their name with `TRAIN<n>` renumbered (the label suffix stays,
as on Kaggle), test clips become `<YYYYMMDD>_<HHMMSS>_<offset>_Test<n>.aif` (no label). The
answers are `clip, probability` (1 for a whale call); the sample submission `sampleSubmission.csv`
predicts 0.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import media_files, place_all
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.grading.metrics import roc_auc

TARGET = "probability"

DESCRIPTION = """\
# The ICML 2013 Whale Challenge: right whale redux

North Atlantic right whales are endangered, and ships can avoid them if they know where they are.
Buoys with hydrophones record the sea; each clip here is two seconds of such a recording (AIFF,
2 kHz). Predict, for every test clip, the probability that it contains a right whale up-call.

## Files
- `train2/`: the training clips, `<date>_<time>_<offset>_TRAIN<n>_<label>.aif`, where the final
  `<label>` is 1 when the clip holds an up-call and 0 otherwise.
- `test2/`: the clips to predict, `<date>_<time>_<offset>_Test<n>.aif`. They were recorded on
  later days than the training clips.
- `sampleSubmission.csv`: `clip,probability`, one row per test clip (`clip` is the file name).

## Evaluation
Area under the ROC curve between the predicted probability and the truth; higher is better.
"""


class RightWhaleRedux(Competition):
    info = supported_entry("the-icml-2013-whale-challenge-right-whale-redux")
    id_column = "clip"
    target_columns = (TARGET,)
    sample_submission_file = "sampleSubmission.csv"

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        clips = media_files(raw, "train2", ".aif")
        by_day: dict[str, list[str]] = {}
        for name in clips:
            by_day.setdefault(name.split("_")[0], []).append(name)
        if len(by_day) != 4:
            raise RawFileMissingError(f"expected labelled clips from 4 days in train2/, found {sorted(by_day)}")
        days = sorted(by_day)
        train = sorted(by_day[days[0]] + by_day[days[1]])
        test = sorted(by_day[days[2]] + by_day[days[3]])
        place_all(
            clips, ((name, re.sub(r"TRAIN\d+", f"TRAIN{i}", name)) for i, name in enumerate(train)), public / "train2"
        )
        test_names = [name.split("TRAIN")[0] + f"Test{i}.aif" for i, name in enumerate(test)]
        place_all(clips, zip(test, test_names, strict=True), public / "test2")
        answers = pd.DataFrame({"clip": test_names, TARGET: [int(Path(name).stem.endswith("_1")) for name in test]})
        answers.assign(**{TARGET: 0}).to_csv(public / "sampleSubmission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        answers.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(RightWhaleRedux())
