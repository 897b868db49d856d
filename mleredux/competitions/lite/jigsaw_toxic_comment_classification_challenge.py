"""jigsaw-toxic-comment-classification-challenge: six kinds of toxicity per comment; mean column-wise ROC AUC.

Split (as MLE-bench documents it): none. Kaggle published the test labels after the competition
(`test_labels.csv`), so MLE-bench keeps Kaggle's own split: `train.csv` (159,571 comments) is the
public train, `test.csv` (153,164 comments) the public test, and `test_labels.csv` the answers
as they are (`id` and the six labels). Kaggle never scored the test rows whose labels are all -1
(a little over half); neither does the metric here: it averages, over the six columns, the ROC
AUC on the scored rows. The sample submission is Kaggle's, with every probability set to 0.5.

Deliberate differences from MLE-bench:
- Submission columns are matched by name; MLE-bench takes the submission's columns in the order
  they come, so a submission whose class columns are ordered differently from the answers is
  scored against the wrong labels there.
- Every prediction must be a probability in [0, 1], as Kaggle's format asks (MLE-bench accepts
  any number; the AUC only ranks them).
- Comment text is copied verbatim: a comment that reads "NA" or "null" stays so (pandas' default,
  which MLE-bench uses, would turn it into an empty field).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.grading.metrics import roc_auc

CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
#: How Kaggle marks a test row that is not scored (every label of the row).
UNSCORED = -1

DESCRIPTION = """\
# Toxic Comment Classification Challenge

The comments come from Wikipedia talk pages; human raters labelled each one for six kinds of
toxic behaviour: `toxic`, `severe_toxic`, `obscene`, `threat`, `insult` and `identity_hate`.
A comment can have any number of them (or none). For each comment of `test.csv`, predict the
probability of each of the six.

The comments may contain profane, vulgar or offensive text.

## Files
- `train.csv`: `id`, `comment_text` and the six labels (0 or 1).
- `test.csv`: `id`, `comment_text`.
- `sample_submission.csv`: `id` and the six columns, one row per test comment (every probability
  0.5).

## Evaluation
The mean, over the six columns, of the area under the ROC curve between the predicted
probabilities (numbers in [0, 1]) and the true labels; higher is better. Some test comments are
not scored (they were left out of the labelling), but every test comment needs a prediction.
"""


class JigsawToxicCommentClassificationChallenge(Competition):
    info = supported_entry("jigsaw-toxic-comment-classification-challenge")
    id_column = "id"
    target_columns = CLASSES

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        # Ids are text (hex strings, a few of them all digits); comments are kept as written.
        train = pd.read_csv(raw_file(raw, "train.csv"), dtype={"id": str}, keep_default_na=False)
        test = pd.read_csv(raw_file(raw, "test.csv"), dtype={"id": str}, keep_default_na=False)
        answers = pd.read_csv(raw_file(raw, "test_labels.csv"), dtype={"id": str})
        sample = pd.read_csv(raw_file(raw, "sample_submission.csv"), dtype={"id": str})
        for name, frame in (("test_labels.csv", answers), ("sample_submission.csv", sample)):
            missing = [c for c in ("id", *CLASSES) if c not in frame.columns]
            if missing:
                raise RawFileMissingError(f"the raw {name} lacks the columns {missing}")
        test_ids = set(test["id"])
        if set(answers["id"]) != test_ids or set(sample["id"]) != test_ids or len(answers) != len(test):
            raise RawFileMissingError("the raw test.csv, test_labels.csv and sample_submission.csv name different ids")
        if test_ids & set(train["id"]):
            raise RawFileMissingError("the raw train.csv and test.csv share ids")
        sample[list(CLASSES)] = 0.5
        train.to_csv(public / "train.csv", index=False)
        test.to_csv(public / "test.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        answers.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, CLASSES)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        # Column by column (no 2-D copy of either frame); the mean of the six AUCs, as
        # `mean_columnwise_roc_auc` computes it.
        truth = {c: answers[c].to_numpy() for c in CLASSES}
        scored = np.logical_and.reduce([truth[c] != UNSCORED for c in CLASSES])
        return float(np.mean([roc_auc(truth[c][scored], submission[c].to_numpy(dtype=float)[scored]) for c in CLASSES]))


register(JigsawToxicCommentClassificationChallenge())
