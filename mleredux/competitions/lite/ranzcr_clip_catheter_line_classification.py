"""ranzcr-clip-catheter-line-classification: placement of tubes and lines on chest X-rays; mean ROC AUC.

Split (MLE-bench's): Kaggle's labelled `train.csv` (30,083 rows: `StudyInstanceUID`, eleven
0/1 columns, `PatientID`) is split with `train_test_split(test_size=0.1, random_state=0)` in file
order (by row, not by patient). `train_annotations.csv` keeps only the rows of the new train
studies; the test X-rays move from `train/` to the public `test/`. The answers are the test rows
of `train.csv` as they are (PatientID included); the sample submission predicts 0 for every
class. Kaggle's TFRecord folders are not used.

Deliberate difference from MLE-bench: its `classes.py`, sample submission and grader have nine
classes (no `CVC - Normal`, no `Swan Ganz Catheter Present`); the sample written here has Kaggle's
eleven. The grader scores the classes the data dir's sample has (see docs/grading.md, "Scored
columns"), so an MLE-bench data dir scores nine, as MLE-bench does, and data prepared here eleven.
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
from mleredux.grading.metrics import mean_columnwise_roc_auc

CLASSES = (
    "ETT - Abnormal",
    "ETT - Borderline",
    "ETT - Normal",
    "NGT - Abnormal",
    "NGT - Borderline",
    "NGT - Incompletely Imaged",
    "NGT - Normal",
    "CVC - Abnormal",
    "CVC - Borderline",
    "CVC - Normal",
    "Swan Ganz Catheter Present",
)

DESCRIPTION = """\
# RANZCR CLiP: catheter and line position

Chest X-rays of hospital patients who carry tubes and lines: endotracheal tubes (ETT),
nasogastric tubes (NGT), central venous catheters (CVC) and Swan-Ganz catheters. A misplaced
tube can harm the patient. For every test X-ray, predict the probability of each of eleven
findings (a study can have several):

ETT - Abnormal, ETT - Borderline, ETT - Normal, NGT - Abnormal, NGT - Borderline,
NGT - Incompletely Imaged, NGT - Normal, CVC - Abnormal, CVC - Borderline, CVC - Normal,
Swan Ganz Catheter Present.

## Files
- `train/`: training X-rays, `<StudyInstanceUID>.jpg`.
- `train.csv`: `StudyInstanceUID`, the eleven 0/1 findings, and `PatientID`.
- `train_annotations.csv`: for some training studies, the drawn position of a tube or line:
  `StudyInstanceUID`, `label` (the finding) and `data` (a list of [x, y] pixel coordinates).
- `test/`: the X-rays to predict, `<StudyInstanceUID>.jpg`.
- `sample_submission.csv`: `StudyInstanceUID` and the eleven finding columns, one row per test
  X-ray.

## Evaluation
The ROC AUC is computed for each of the eleven columns and the eleven values are averaged
(higher is better). Predictions are probabilities in [0, 1].
"""


#: The classes MLE-bench's data scores (its sample and grader leave out `CVC - Normal` and
#: `Swan Ganz Catheter Present`): an MLE-bench data dir's sample has these nine, ours all eleven.
MLEBENCH_CLASSES = CLASSES[:9]


class RanzcrClipCatheterLineClassification(Competition):
    info = supported_entry("ranzcr-clip-catheter-line-classification")
    id_column = "StudyInstanceUID"
    target_columns = CLASSES
    required_columns = MLEBENCH_CLASSES
    answer_columns = CLASSES

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(labelled, test_size=0.1, random_state=0)
        annotations = pd.read_csv(raw_file(raw, "train_annotations.csv"))
        annotations = annotations[annotations["StudyInstanceUID"].isin(train["StudyInstanceUID"])]
        images = media_files(raw, "train", ".jpg")
        place_all(images, ((f"{i}.jpg", f"{i}.jpg") for i in train["StudyInstanceUID"]), public / "train")
        place_all(images, ((f"{i}.jpg", f"{i}.jpg") for i in test["StudyInstanceUID"]), public / "test")
        train.to_csv(public / "train.csv", index=False)
        annotations.to_csv(public / "train_annotations.csv", index=False)
        sample = test[["StudyInstanceUID"]].assign(**dict.fromkeys(CLASSES, 0))
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, _scored(submission))

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        # The classes the sample scores (nine on an MLE-bench data dir, eleven here); the grader has
        # already dropped the others.
        columns = _scored(submission)
        return mean_columnwise_roc_auc(answers[columns].to_numpy(), submission[columns].to_numpy())


def _scored(submission: pd.DataFrame) -> list[str]:
    return [c for c in CLASSES if c in submission.columns]


register(RanzcrClipCatheterLineClassification())
