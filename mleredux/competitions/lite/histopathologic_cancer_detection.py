"""histopathologic-cancer-detection: does a lymph-node tissue patch contain tumour; ROC AUC.

Split (MLE-bench's): Kaggle's `train_labels.csv` (`id, label`) is split on its `id` column with
`train_test_split(test_size=r, random_state=0)`, where r = (number of raw `test/*.tif`) /
(labelled rows + that number), i.e. Kaggle's own train/test proportion. Both halves keep the
order of `train_labels.csv`. The test patches move from `train/` to the public `test/` under
their own (hash) names. The answers (`private/answers.csv`) keep `id, label`; the sample
submission predicts 0.
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

TARGET = "label"

DESCRIPTION = """\
# Histopathologic cancer detection

The images are 96x96 pixel patches cut from scanned slides of lymph-node sections (a version of
the PatchCamelyon benchmark without duplicates). A patch is labelled positive when its central
32x32 region contains at least one pixel of tumour tissue; tissue outside the centre does not
change the label but may help. Predict, for every test patch, how likely it is to be positive.

## Files
- `train/`: the training patches, `<id>.tif`.
- `train_labels.csv`: `id`, `label` (1 = tumour in the centre, 0 = none).
- `test/`: the patches to predict, `<id>.tif`.
- `sample_submission.csv`: `id,label`, one row per test patch.

## Evaluation
Area under the ROC curve between the predicted probability (`label`, in [0, 1]) and the true
label; higher is better.
"""


class HistopathologicCancerDetection(Competition):
    info = supported_entry("histopathologic-cancer-detection")
    id_column = "id"
    target_columns = (TARGET,)
    answers_file = "answers.csv"

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train_labels.csv"))
        kaggle_test = len(media_files(raw, "test", ".tif"))
        ratio = kaggle_test / (len(labelled) + kaggle_test)
        train_ids, test_ids = train_test_split(labelled["id"], test_size=ratio, random_state=0)
        train = labelled[labelled["id"].isin(train_ids)]
        test = labelled[labelled["id"].isin(test_ids)]
        images = media_files(raw, "train", ".tif")
        place_all(images, ((f"{i}.tif", f"{i}.tif") for i in train_ids), public / "train")
        place_all(images, ((f"{i}.tif", f"{i}.tif") for i in test_ids), public / "test")
        train.to_csv(public / "train_labels.csv", index=False)
        test[["id"]].assign(**{TARGET: 0}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test[["id", TARGET]].to_csv(private / "answers.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(HistopathologicCancerDetection())
