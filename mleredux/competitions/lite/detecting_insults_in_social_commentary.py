"""detecting-insults-in-social-commentary: is a comment an insult to another participant? ROC AUC.

Split (as MLE-bench documents it): no new split. Kaggle released the labels of its test set as
`test_with_solutions.csv` (`Insult, Date, Comment, Usage`); it becomes the answers
(`private/test.csv`, copied byte for byte), Kaggle's `train.csv` (`Insult, Date, Comment`) is the
public training set, the public `test.csv` is the answers without `Insult` and `Usage`, and the
sample submission gives every comment `Insult = 0`. Kaggle's later verification-stage files
(`test.csv`, `impermium_verification_*.csv`) are ignored. There is no id column: a row is
identified by its `Comment` text.

Metric: area under the ROC curve of the predicted probabilities (higher is better).

Deliberate differences from MLE-bench:
- The sample submission's columns are `Comment, Date, Insult` (MLE-bench: `Insult, Date, Comment`):
  the id column first and the predicted column last, as in every other competition here. Columns
  are matched by name, so a submission in MLE-bench's column order is graded the same.
- `Date` is part of the format (the sample has it) but is not graded; it may be empty, as it is
  for some comments. A submission without `Date` is rejected as a missing column (MLE-bench only
  reads `Comment` and `Insult`).
- If a comment text occurs more than once in `test_with_solutions.csv`, the public `test.csv` and
  the sample submission list it once (its first occurrence), since an id must be unique in a
  submission; the answers keep every row, and that comment's one prediction is scored against
  each of its rows. For a submission that predicts identical comments identically, this is the
  score MLE-bench gives (its grader sorts both files by `Comment` and pairs rows by position).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.grading.metrics import roc_auc

TARGET = "Insult"
#: Empty `Date`s are text, not missing values; an empty or NaN prediction is still missing.
NA_PREDICTIONS = ["", "NaN", "nan", "NA", "N/A", "null"]

DESCRIPTION = """\
# Detecting insults in social commentary

Each row is a comment posted in an online conversation (news sites, forums, blogs). Decide
whether the comment is meant to insult another participant of that conversation: insults aimed at
people outside it (celebrities, politicians) do not count, profanity alone does not make an insult,
and the insult should be plain rather than subtle. The labels may be a little noisy.

## Files
- `train.csv`: `Insult` (1 for an insult, 0 for a neutral comment), `Date` and `Comment`.
- `test.csv`: `Date` and `Comment` of the comments to classify.
- `sample_submission_null.csv`: `Comment,Date,Insult`, one row per test comment, predicting 0.

`Date` is the local time the comment was posted, as `YYYYMMDDhhmmss` followed by `Z`, and is
empty when unknown. `Comment` is the unicode-escaped text of the comment (newlines appear as
`\\n`), wrapped in double quotes. There is no id column: rows are identified by their `Comment`
text, so copy it unchanged from `test.csv`; `Date` is copied along and is not graded.

## Evaluation
Area under the ROC curve between the predicted probabilities of being an insult (in [0, 1]) and
the labels (higher is better).
"""


class DetectingInsultsInSocialCommentary(Competition):
    info = supported_entry("detecting-insults-in-social-commentary")
    id_column = "Comment"
    target_columns = ("Date", TARGET)
    sample_submission_file = "sample_submission_null.csv"
    read_csv_options = {"keep_default_na": False, "na_values": {TARGET: NA_PREDICTIONS}}

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        shutil.copyfile(raw_file(raw, "train.csv"), public / "train.csv")
        shutil.copyfile(raw_file(raw, "test_with_solutions.csv"), private / "test.csv")
        solutions = pd.read_csv(private / "test.csv", keep_default_na=False, dtype={"Date": str, "Comment": str})
        unique = solutions.drop_duplicates(subset="Comment", keep="first")
        unique[["Date", "Comment"]].to_csv(public / "test.csv", index=False)
        unique[["Comment", "Date"]].assign(**{TARGET: 0}).to_csv(public / self.sample_submission_file, index=False)
        (public / "description.md").write_text(DESCRIPTION)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, (TARGET,))

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(DetectingInsultsInSocialCommentary())
