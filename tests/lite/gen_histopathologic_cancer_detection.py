"""Raw histopathologic-cancer-detection: train_labels.csv and train/ test/ folders of TIFF patches."""

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

ID = "histopathologic-cancer-detection"


def _tif(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(out, format="TIFF")
    return out.getvalue()


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{rng.integers(0, 2**64, dtype=np.uint64):016x}{rng.integers(0, 2**48):012x}" for _ in range(n)]


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    ids, test_ids = _ids(rng, 100), _ids(rng, 25)
    labels = pd.DataFrame({"id": ids, "label": rng.choice([0, 1], size=100, p=[0.6, 0.4])})
    labels.to_csv(raw / "train_labels.csv", index=False)
    pd.DataFrame({"id": test_ids, "label": 0}).to_csv(raw / "sample_submission.csv", index=False)
    for folder, names in (("train", ids), ("test", test_ids)):
        (raw / folder).mkdir()
        for name in names:
            (raw / folder / f"{name}.tif").write_bytes(_tif(rng))
    write_leaderboard(raw, ID, np.round(np.linspace(0.9999, 0.6, 300), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", "label"]].astype({"label": float})


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    return float(roc_auc_score(merged["label"], merged["label_p"]))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train_labels.csv")
    answers = pd.read_csv(private / "answers.csv")
    # 25 Kaggle test images beside 100 labelled ones: a 20% test split.
    assert len(answers) == 20 and len(train) == 80
    assert not set(train["id"]) & set(answers["id"])
    assert {p.stem for p in (public / "test").iterdir()} == set(answers["id"])
    assert {p.stem for p in (public / "train").iterdir()} == set(train["id"])


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "answers.csv")
    path = data_dir / "constant.csv"
    answers.assign(label=0.7).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(),
    check_no_leak=no_leak,
    extra_checks=(constant_is_half,),
)
