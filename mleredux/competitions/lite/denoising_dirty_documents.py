"""denoising-dirty-documents: remove stains and noise from scanned text pages; RMSE over pixels.

Split (as MLE-bench documents it): only Kaggle's labelled pairs are used. The noisy PNGs of
`train.zip` (144), sorted by file name as text ("101.png" before "2.png"), are split with
`train_test_split(test_size=0.2, random_state=0)`: 29 become the public `test/`, 115 stay in
`train/`, and `train_cleaned/` keeps only the clean versions of the 115. The answers
(`answers.csv`) melt the clean versions of the test images, in file-name order, into one row per
pixel: `id = <image>_<row>_<col>` (1-based, row by row) and `value` = grey level / 255. The sample
submission `sampleSubmission.csv` has the same ids with `value` 1 (a white page). Kaggle's own
`test.zip` (no clean versions) is not used.

No deliberate difference from MLE-bench (the metric is symmetric, so MLE-bench swapping
`y_true` and `y_pred` changes nothing). As in MLE-bench, predicted values are not limited to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.lite._images import media_files, place_all
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import rmse

TARGET = "value"

DESCRIPTION = """\
# Denoising dirty documents

Scanned pages of printed text, made dirty on purpose: coffee stains, faded spots, creases. Clean
them: for every pixel of every test image, predict its grey level in the clean page.

## Files
- `train/`: noisy training images (`<n>.png`, greyscale).
- `train_cleaned/`: the same pages without noise, under the same names.
- `test/`: the noisy images to clean.
- `sampleSubmission.csv`: `id,value`, one row per pixel of every test image. `id` is
  `<image>_<row>_<col>`, with rows and columns counted from 1 (`3_2_1` is image `3.png`, row 2,
  column 1); `value` is the intensity from 0 (black) to 1 (white). The sample says 1 everywhere.

## Evaluation
Root mean squared error between the predicted and the true clean intensities over all pixels
(lower is better).
"""


def melt(path: Path) -> pd.DataFrame:
    """One row per pixel of a greyscale image: `<stem>_<row>_<col>` (1-based, row-major) and intensity / 255."""
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0
    rows, cols = pixels.shape
    prefix = f"{path.stem}_"
    ids = [f"{prefix}{r}_{c}" for r in range(1, rows + 1) for c in range(1, cols + 1)]
    return pd.DataFrame({"id": ids, TARGET: pixels.reshape(-1)})


class DenoisingDirtyDocuments(Competition):
    info = supported_entry("denoising-dirty-documents")
    id_column = "id"
    target_columns = (TARGET,)
    answers_file = "answers.csv"
    sample_submission_file = "sampleSubmission.csv"

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        noisy = media_files(raw, "train", ".png")
        clean = media_files(raw, "train_cleaned", ".png")
        names = sorted(noisy)
        train_names, test_names = train_test_split(names, test_size=0.2, random_state=0)
        missing = [name for name in names if name not in clean]
        if missing:
            raise RawFileMissingError(f"train_cleaned lacks {len(missing)} images of train, e.g. {missing[:3]}")
        place_all(noisy, ((n, n) for n in train_names), public / "train")
        place_all(noisy, ((n, n) for n in test_names), public / "test")
        held_out = set(test_names)
        place_all(clean, ((n, n) for n in sorted(clean) if n not in held_out), public / "train_cleaned")
        answers = pd.concat([melt(clean[name]) for name in sorted(test_names)], ignore_index=True)
        answers.to_csv(private / self.answers_file, index=False)
        answers.assign(**{TARGET: 1}).to_csv(public / self.sample_submission_file, index=False)
        (public / "description.md").write_text(DESCRIPTION)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return rmse(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(DenoisingDirtyDocuments())
