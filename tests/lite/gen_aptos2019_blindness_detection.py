"""Raw aptos2019-blindness-detection: train.csv, test.csv and train_images/ test_images/ PNGs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard

ID = "aptos2019-blindness-detection"


def _png(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    n = 100
    ids = [f"{rng.integers(0, 2**48):012x}" for _ in range(n)]
    diagnosis = rng.choice(5, size=n, p=[0.49, 0.1, 0.27, 0.05, 0.09])
    pd.DataFrame({"id_code": ids, "diagnosis": diagnosis}).to_csv(raw / "train.csv", index=False)
    test_ids = [f"{rng.integers(0, 2**48):012x}" for _ in range(10)]
    pd.DataFrame({"id_code": test_ids}).to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"id_code": test_ids, "diagnosis": 0}).to_csv(raw / "sample_submission.csv", index=False)
    for folder, names in (("train_images", ids), ("test_images", test_ids)):
        (raw / folder).mkdir()
        for name in names:
            (raw / folder / f"{name}.png").write_bytes(_png(rng))
    write_leaderboard(raw, ID, np.round(np.linspace(0.936, 0.2, 300), 6))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id_code", "diagnosis"]]


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id_code", suffixes=("", "_p"))
    return float(cohen_kappa_score(merged["diagnosis"], merged["diagnosis_p"], weights="quadratic"))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    answers = pd.read_csv(private / "test.csv")
    test = pd.read_csv(public / "test.csv")
    assert len(answers) == 10 and len(train) == 90
    assert not set(train["id_code"]) & set(answers["id_code"])
    assert list(test["id_code"]) == list(answers["id_code"])
    assert {p.stem for p in (public / "test_images").iterdir()} == set(answers["id_code"])
    assert {p.stem for p in (public / "train_images").iterdir()} == set(train["id_code"])


def rejects_other_grades(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "bad.csv"
    answers.assign(diagnosis=answers["diagnosis"] + 0.5).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "not allowed" in (report.invalid_reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "diagnosis"),),
    check_no_leak=no_leak,
    extra_checks=(rejects_other_grades,),
)
