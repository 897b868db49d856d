"""aerial-cactus-identification: does a 32x32 aerial photo show a columnar cactus; ROC AUC.

Split (MLE-bench's): Kaggle's labelled `train.csv` (17,500 rows) is split with
`train_test_split(test_size=0.19, random_state=0)` in file order; the 19% become the test set and
their images move from `train/` to the public `test/` folder under their own names (the ids are
hashes and reveal nothing). The answers keep `id, has_cactus`; the sample submission says 0.5.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import media_files, place_all, raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import roc_auc

TARGET = "has_cactus"

DESCRIPTION = """\
# Aerial cactus identification

The images are small (32x32 pixel) aerial photographs of a nature reserve in Mexico. Some show
a columnar cactus, others do not. Build a classifier that tells, for every image of the test
folder, how likely it is that a cactus is in it.

## Files
- `train/`: the training images, `<id>` being the file name (e.g. `0004be2c….jpg`).
- `train.csv`: `id`, `has_cactus` (1 when a cactus is present, else 0).
- `test/`: the images to predict.
- `sample_submission.csv`: `id,has_cactus`, one row per test image, every probability 0.5.

## Evaluation
Submissions are scored by the area under the ROC curve between the predicted probability
(`has_cactus`, a number in [0, 1]) and the true label; higher is better.
"""


class AerialCactusIdentification(Competition):
    info = supported_entry("aerial-cactus-identification")
    id_column = "id"
    target_columns = (TARGET,)

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(labelled, test_size=0.19, random_state=0)
        images = media_files(raw, "train", ".jpg")
        place_all(images, ((name, name) for name in train["id"]), public / "train")
        place_all(images, ((name, name) for name in test["id"]), public / "test")
        train.to_csv(public / "train.csv", index=False)
        test[["id"]].assign(**{TARGET: 0.5}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test[["id", TARGET]].to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(AerialCactusIdentification())
