"""Raw dog-breed-identification: labels.csv.zip, train.zip and test.zip of JPEGs, sample_submission.csv.zip."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mleredux.competitions.lite.dog_breed_identification import BREEDS
from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "dog-breed-identification"


def _jpeg(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    n = 120
    ids = [f"{rng.integers(0, 2**64, dtype=np.uint64):016x}{i:016x}" for i in range(n)]
    labels = pd.DataFrame({"id": ids, "breed": rng.choice(BREEDS[:12], size=n)})
    zip_files(raw / "labels.csv.zip", {"labels.csv": labels.to_csv(index=False).encode()})
    zip_files(raw / "train.zip", {f"train/{i}.jpg": _jpeg(rng) for i in ids})
    test_ids = [f"{rng.integers(0, 2**64, dtype=np.uint64):016x}" for _ in range(8)]
    zip_files(raw / "test.zip", {f"test/{i}.jpg": _jpeg(rng) for i in test_ids})
    sample = pd.DataFrame({"id": test_ids, **{b: 1 / 120 for b in BREEDS}})
    zip_files(raw / "sample_submission.csv.zip", {"sample_submission.csv": sample.to_csv(index=False).encode()})
    write_leaderboard(raw, ID, np.round(np.linspace(0.0008, 4.8, 300), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", *BREEDS]].astype(dict.fromkeys(BREEDS, float))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    probs = merged[[f"{b}_p" for b in BREEDS]].to_numpy()
    truth = merged[list(BREEDS)].to_numpy()
    return float(-(truth * np.log(probs / probs.sum(axis=1, keepdims=True))).sum(axis=1).mean())


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "labels.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 12 and len(train) == 108
    assert list(answers.columns) == ["id", *BREEDS]
    assert (answers[list(BREEDS)].sum(axis=1) == 1).all()
    assert not set(train["id"]) & set(answers["id"])
    assert {p.stem for p in (public / "test").iterdir()} == set(answers["id"])
    assert {p.stem for p in (public / "train").iterdir()} == set(train["id"])


def uniform_is_ln120(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "uniform.csv"
    answers.assign(**dict.fromkeys(BREEDS, 1 / 120)).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score is not None and abs((report.score_unrounded or 0) - math.log(120)) < 1e-9
    answers.assign(**dict.fromkeys(BREEDS, 0.5)).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "sum to 1" in (report.invalid_reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(),
    check_no_leak=no_leak,
    extra_checks=(uniform_is_ln120,),
)
