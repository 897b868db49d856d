"""tabular-playground-series-may-2022: binary state of a simulated manufacturing process; ROC AUC.

Split (as MLE-bench documents it): Kaggle's labelled `train.csv` (900,000 rows) is split with
`train_test_split(test_size=100_000, random_state=0)` in file order. The ids are then renumbered in
the split's (shuffled) order: the new train rows get 0 .. n_train - 1 and the 100,000 test rows get
n_train .. n_train + 99,999, so an id reveals nothing of where a row came from. Every column is
kept (`test.csv` without `target`); the answers are the whole test rows, `target` included, and
the sample submission predicts 0.5. Kaggle's own `test.csv` is not used (it has no labels).

MLE-bench also writes `private/gold_submission.csv` (`id,target` of the answers); grading never
reads it, so it is not written here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import roc_auc

TARGET = "target"
TEST_ROWS = 100_000

DESCRIPTION = """\
# Tabular Playground Series - May 2022

Simulated control data of a manufacturing process. Each row is one observation of the process,
described by 31 features (`f_00` to `f_30`): continuous measurements, integer counts, and
`f_27`, a ten-letter string. The features interact with one another, and these interactions
carry much of the signal. Predict the probability that the machine is in state 1 (`target`).

## Files
- `train.csv`: `id`, `f_00` … `f_30`, `target` (0 or 1).
- `test.csv`: `id`, `f_00` … `f_30`.
- `sample_submission.csv`: `id,target`, one row per test row (every probability 0.5).

## Evaluation
Area under the ROC curve between the predicted probability (`target`, a number in [0, 1]) and
the observed state; higher is better.
"""


class TabularPlaygroundSeriesMay2022(Competition):
    info = supported_entry("tabular-playground-series-may-2022")
    id_column = "id"
    target_columns = (TARGET,)
    answer_columns = (TARGET,)

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(labelled, test_size=TEST_ROWS, random_state=0)
        train = train.assign(id=np.arange(len(train)))
        test = test.assign(id=np.arange(len(train), len(train) + len(test)))
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
        test[["id"]].assign(**{TARGET: 0.5}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(TabularPlaygroundSeriesMay2022())
