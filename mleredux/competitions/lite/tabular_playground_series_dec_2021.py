"""tabular-playground-series-dec-2021: forest cover type (7 classes) of synthetic records; accuracy.

Split (as MLE-bench documents it): Kaggle's labelled `train.csv` (4,000,000 rows) is split with
`train_test_split(test_size=0.1, random_state=0)` in file order; the 10% become the test set. The
public `train.csv` and `test.csv` keep every column (`test.csv` without `Cover_Type`); the answers
are the whole test rows, `Cover_Type` included. The sample submission predicts class 2 everywhere.
Kaggle's own `test.csv` is not used (it has no labels).

Deliberate difference from MLE-bench: a predicted `Cover_Type` outside 1..7 makes the submission
invalid (MLE-bench counts it as a wrong answer); the cover types are the seven listed by Kaggle.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_allowed_values
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import accuracy

TARGET = "Cover_Type"
COVER_TYPES = tuple(range(1, 8))
#: The class MLE-bench's sample submission predicts for every row.
SAMPLE_CLASS = 2

DESCRIPTION = """\
# Tabular Playground Series - Dec 2021

The data is synthetic, generated from the Forest Cover Type data (cartographic measurements of
30 m x 30 m patches of forest). Each row describes a patch: elevation, aspect, slope, distances to
water, roads and fire points, hill shade at three times of day, four one-hot `Wilderness_Area`
columns and forty one-hot `Soil_Type` columns. Predict the patch's `Cover_Type`, an integer from
1 to 7.

## Files
- `train.csv`: `Id`, the 54 features and `Cover_Type`.
- `test.csv`: `Id` and the 54 features.
- `sample_submission.csv`: `Id,Cover_Type`, one row per test row (every prediction is 2).

## Evaluation
Multi-class classification accuracy: the share of test rows whose `Cover_Type` is predicted
exactly (higher is better). Predictions must be one of the cover types 1 to 7.
"""


class TabularPlaygroundSeriesDec2021(Competition):
    info = supported_entry("tabular-playground-series-dec-2021")
    id_column = "Id"
    target_columns = (TARGET,)
    answer_columns = (TARGET,)

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(labelled, test_size=0.1, random_state=0)
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
        test[["Id"]].assign(**{TARGET: SAMPLE_CLASS}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_allowed_values(submission, TARGET, COVER_TYPES)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return accuracy(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(TabularPlaygroundSeriesDec2021())
