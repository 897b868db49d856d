"""Raw aerial-cactus-identification: train.csv, train.zip/test.zip of 32x32 JPEGs (8x8 here)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "aerial-cactus-identification"


def _jpeg(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    n = 80
    ids = [f"{rng.integers(0, 2**63):016x}{i:016x}.jpg" for i in range(n)]
    train = pd.DataFrame({"id": ids, "has_cactus": rng.choice([0, 1], size=n, p=[0.25, 0.75])})
    train.to_csv(raw / "train.csv", index=False)
    zip_files(raw / "train.zip", {f"train/{name}": _jpeg(rng) for name in ids})
    test_ids = [f"{rng.integers(0, 2**63):016x}{i:016x}.jpg" for i in range(10)]
    zip_files(raw / "test.zip", {f"test/{name}": _jpeg(rng) for name in test_ids})
    pd.DataFrame({"id": test_ids, "has_cactus": 0.5}).to_csv(raw / "sample_submission.csv", index=False)
    write_leaderboard(raw, ID, np.round(np.concatenate([np.ones(60), np.linspace(0.999, 0.6, 240)]), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", "has_cactus"]].astype({"has_cactus": float})


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    return float(roc_auc_score(merged["has_cactus"], merged["has_cactus_p"]))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(train) == 80 - len(answers) and len(answers) == 16  # ceil(0.19 * 80)
    assert not set(train["id"]) & set(answers["id"])
    assert {p.name for p in (public / "test").iterdir()} == set(answers["id"])
    assert {p.name for p in (public / "train").iterdir()} == set(train["id"])
    assert not (public / "test.csv").exists()


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "constant.csv"
    answers[["id"]].assign(has_cactus=0.3).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score == 0.5
    answers[["id"]].assign(has_cactus=1.5).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "outside [0, 1]" in (report.invalid_reason or "")


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
