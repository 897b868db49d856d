"""Raw plant-pathology-2020-fgvc7: train.csv (one-hot), test.csv and images/Train_<n>.jpg, images/Test_<n>.jpg."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard

ID = "plant-pathology-2020-fgvc7"
CLASSES = ["healthy", "multiple_diseases", "rust", "scab"]


def _jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), shade, dtype=np.uint8)).save(out, format="JPEG", quality=100)
    return out.getvalue()


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    n = 120
    labels = rng.choice(4, size=n, p=[0.3, 0.1, 0.3, 0.3])
    train = pd.DataFrame({"image_id": [f"Train_{i}" for i in range(n)]})
    for k, name in enumerate(CLASSES):
        train[name] = (labels == k).astype(int)
    train.to_csv(raw / "train.csv", index=False)
    test = pd.DataFrame({"image_id": [f"Test_{i}" for i in range(10)]})
    test.to_csv(raw / "test.csv", index=False)
    test.assign(**dict.fromkeys(CLASSES, 0.25)).to_csv(raw / "sample_submission.csv", index=False)
    (raw / "images").mkdir()
    # A labelled image's shade is 60 * its class + 10 (so the renamed copies can be checked); Kaggle
    # test images are white.
    for i, k in enumerate(labels):
        (raw / "images" / f"Train_{i}.jpg").write_bytes(_jpeg(int(k) * 60 + 10))
    for i in range(10):
        (raw / "images" / f"Test_{i}.jpg").write_bytes(_jpeg(255))
    write_leaderboard(raw, ID, np.round(np.linspace(0.984, 0.6, 300), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["image_id", *CLASSES]].astype(dict.fromkeys(CLASSES, float))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="image_id", suffixes=("", "_p"))
    return float(np.mean([roc_auc_score(merged[c], merged[f"{c}_p"]) for c in CLASSES]))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 12 and len(train) == 108
    assert list(train["image_id"]) == [f"Train_{i}" for i in range(108)]
    assert list(answers["image_id"]) == [f"Test_{i}" for i in range(12)] == list(test["image_id"])
    names = {p.stem for p in (public / "images").iterdir()}
    assert names == set(train["image_id"]) | set(answers["image_id"])
    for frame in (train, answers):
        for row in frame.itertuples(index=False):
            shade = np.asarray(Image.open(public / "images" / f"{row.image_id}.jpg")).mean()
            k = int(np.argmax([getattr(row, c) for c in CLASSES]))
            assert abs(shade - (k * 60 + 10)) < 3


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "constant.csv"
    answers.assign(**dict.fromkeys(CLASSES, 0.1)).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "healthy"), ("test.csv", "rust"), ("test.csv", "scab")),
    check_no_leak=no_leak,
    extra_checks=(constant_is_half,),
)
