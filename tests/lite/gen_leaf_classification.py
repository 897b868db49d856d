"""Raw leaf-classification: train.csv.zip, test.csv.zip, sample_submission.csv.zip and images.zip
holding `images/<id>.jpg` for every train and test leaf, as Kaggle ships them."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mleredux.competitions.lite.leaf_classification import SPECIES
from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "leaf-classification"
FEATURES = [f"{kind}{i}" for kind in ("margin", "shape", "texture") for i in range(1, 65)]
N_TRAIN = 150


def _jpeg(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray((rng.random((8, 6)) > 0.5).astype(np.uint8) * 255, mode="L").save(out, format="JPEG")
    return out.getvalue()


def _leaves(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    values = np.round(rng.random((len(ids), len(FEATURES))) / 50, 6)
    return pd.DataFrame({"id": ids, **{name: values[:, j] for j, name in enumerate(FEATURES)}})


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    ids = rng.permutation(np.arange(1, 241))
    train_ids, test_ids = np.sort(ids[:N_TRAIN]), np.sort(ids[N_TRAIN:])
    train = _leaves(rng, train_ids)
    train.insert(1, "species", rng.choice(SPECIES[:30], size=N_TRAIN))
    test = _leaves(rng, test_ids)
    zip_files(raw / "train.csv.zip", {"train.csv": train.to_csv(index=False).encode()})
    zip_files(raw / "test.csv.zip", {"test.csv": test.to_csv(index=False).encode()})
    sample = pd.DataFrame({"id": test_ids, **dict.fromkeys(SPECIES, 1 / 99)})
    zip_files(raw / "sample_submission.csv.zip", {"sample_submission.csv": sample.to_csv(index=False).encode()})
    zip_files(raw / "images.zip", {f"images/{i}.jpg": _jpeg(rng) for i in sorted(ids)})
    write_leaderboard(raw, ID, np.round(np.concatenate([np.zeros(40), np.geomspace(1e-4, 34.5, 1550)]), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", *SPECIES]].astype(dict.fromkeys(SPECIES, float))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    probs = merged[[f"{s}_p" for s in SPECIES]].to_numpy()
    truth = merged[list(SPECIES)].to_numpy()
    return float(-(truth * np.log(probs / probs.sum(axis=1, keepdims=True))).sum(axis=1).mean())


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 15 and len(train) == N_TRAIN - 15
    assert list(train.columns) == ["id", "species", *FEATURES]
    assert list(test.columns) == ["id", *FEATURES]
    assert list(answers.columns) == ["id", *SPECIES] and (answers[list(SPECIES)].sum(axis=1) == 1).all()
    assert list(test["id"]) == list(answers["id"])
    assert not set(train["id"]) & set(answers["id"])
    # Only the leaves of the new split: Kaggle's own (unlabelled) test leaves stay out.
    assert {p.stem for p in (public / "images").iterdir()} == {str(i) for i in [*train["id"], *test["id"]]}


def uniform_is_ln99(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "uniform.csv"
    answers.assign(**dict.fromkeys(SPECIES, 1 / 99)).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score_unrounded is not None and abs(report.score_unrounded - math.log(99)) < 1e-9
    answers.assign(**dict.fromkeys(SPECIES, 0.5)).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "15 rows have probabilities that do not sum to 1" in (
        report.invalid_reason or ""
    )
    bad = answers.astype(dict.fromkeys(SPECIES, float))
    bad.loc[:1, SPECIES[0]] = -0.5
    bad.to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and f"'{SPECIES[0]}' has 2 values outside [0, 1]" in (
        report.invalid_reason or ""
    )


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(("test.csv", "species"),),
    check_no_leak=no_leak,
    extra_checks=(uniform_is_ln99,),
)
