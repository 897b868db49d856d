"""aptos2019-blindness-detection: grade diabetic retinopathy (0-4) in retina photos; quadratic weighted kappa.

Split (MLE-bench's): Kaggle's labelled `train.csv` (3,662 rows, `id_code, diagnosis`) is split
with `train_test_split(test_size=0.1, random_state=0)` in file order; the test images move from
`train_images/` to the public `test_images/`. The answers keep `id_code, diagnosis`; the sample
submission predicts 0 everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_allowed_values
from mleredux.competitions.lite._images import media_files, place_all, raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import quadratic_weighted_kappa

TARGET = "diagnosis"
GRADES = (0, 1, 2, 3, 4)

DESCRIPTION = """\
# APTOS 2019 blindness detection

Diabetic retinopathy damages the retina and, untreated, leads to blindness. Each image is a
photograph of the back of an eye (a fundus photograph) taken in rural India; a clinician rated
the severity of retinopathy in it on a five-point scale:

0 = none, 1 = mild, 2 = moderate, 3 = severe, 4 = proliferative.

Predict that rating for every image of the test set. The photographs come from many clinics and
cameras, so lighting, focus and framing vary, and some images are noisy.

## Files
- `train.csv`: `id_code`, `diagnosis`; the image is `train_images/<id_code>.png`.
- `test.csv`: `id_code`; the image is `test_images/<id_code>.png`.
- `sample_submission.csv`: `id_code,diagnosis`, one row per test image (all 0).

## Evaluation
Quadratic weighted kappa between the predicted and the true ratings (1 is perfect agreement,
0 is chance level; higher is better). Predictions must be integers from 0 to 4.
"""


class Aptos2019BlindnessDetection(Competition):
    info = supported_entry("aptos2019-blindness-detection")
    id_column = "id_code"
    target_columns = (TARGET,)

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(labelled, test_size=0.1, random_state=0)
        images = media_files(raw, "train_images", ".png")
        place_all(images, ((f"{i}.png", f"{i}.png") for i in train["id_code"]), public / "train_images")
        place_all(images, ((f"{i}.png", f"{i}.png") for i in test["id_code"]), public / "test_images")
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
        test[["id_code"]].assign(**{TARGET: 0}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test[["id_code", TARGET]].to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_allowed_values(submission, TARGET, GRADES)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return quadratic_weighted_kappa(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(Aptos2019BlindnessDetection())
