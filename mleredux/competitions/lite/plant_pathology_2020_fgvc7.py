"""plant-pathology-2020-fgvc7: healthy, rust, scab or several diseases on apple leaves; mean column-wise ROC AUC.

Split (MLE-bench's): Kaggle's labelled `train.csv` (1,821 rows, `image_id` then the one-hot
columns `healthy, multiple_diseases, rust, scab`) is split with
`train_test_split(test_size=0.1, random_state=0)` in file order. Every labelled image is renamed
so that the split cannot be undone from the names: the new train rows become `Train_0, Train_1, …`
and the new test rows `Test_0, Test_1, …`, both numbered in split order; all of them go to the
public `images/` folder (Kaggle's unlabelled test images are left out). The answers keep
`image_id` and the four columns; the sample submission gives each class 0.25.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.lite._images import media_files, place_all, raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import mean_columnwise_roc_auc

CLASSES = ("healthy", "multiple_diseases", "rust", "scab")

DESCRIPTION = """\
# Plant Pathology 2020 (FGVC7)

Photographs of apple-tree leaves, each showing a healthy leaf, a leaf with apple rust, a leaf with
apple scab, or a leaf with more than one disease. For every test image, predict a probability for
each of the four categories.

## Files
- `images/`: all photographs, `<image_id>.jpg` (training and test images alike).
- `train.csv`: `image_id` and the four one-hot columns `healthy`, `multiple_diseases`, `rust`,
  `scab` (exactly one is 1).
- `test.csv`: `image_id` of the images to predict.
- `sample_submission.csv`: `image_id,healthy,multiple_diseases,rust,scab`, one row per test image.

## Evaluation
Mean column-wise ROC AUC: the area under the ROC curve is computed for each of the four columns
separately and the four values are averaged. Higher is better.
"""


class PlantPathology2020Fgvc7(Competition):
    info = supported_entry("plant-pathology-2020-fgvc7")
    id_column = "image_id"
    target_columns = CLASSES

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(labelled, test_size=0.1, random_state=0)
        new_names = {old: f"Train_{i}" for i, old in enumerate(train["image_id"].unique())}
        new_names.update({old: f"Test_{i}" for i, old in enumerate(test["image_id"].unique())})
        train = train.assign(image_id=train["image_id"].map(new_names))
        test = test.assign(image_id=test["image_id"].map(new_names))
        images = media_files(raw, "images", ".jpg")
        place_all(images, ((f"{old}.jpg", f"{new}.jpg") for old, new in new_names.items()), public / "images")
        train.to_csv(public / "train.csv", index=False)
        test[["image_id"]].to_csv(public / "test.csv", index=False)
        sample = test[["image_id"]].assign(**dict.fromkeys(CLASSES, 0.25))
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test[["image_id", *CLASSES]].to_csv(private / "test.csv", index=False)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        columns = list(CLASSES)
        return mean_columnwise_roc_auc(answers[columns].to_numpy(), submission[columns].to_numpy())


register(PlantPathology2020Fgvc7())
