"""Raw spooky-author-identification: train.zip and test.zip holding CSVs, as Kaggle ships them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

CLASSES = ["EAP", "HPL", "MWS"]
WORDS = "the of and night dark house shadow strange ancient eldritch heart love sea fear".split()
#: Words each author favours, so the text says something about its author (an agent can learn it).
FAVOURITES = {
    "EAP": ["raven", "tomb", "madness"],
    "HPL": ["eldritch", "cyclopean", "sea"],
    "MWS": ["love", "misery", "mountain"],
}


def _sentence(rng: np.random.Generator, author: str) -> str:
    return " ".join(
        str(rng.choice(FAVOURITES[author])) if rng.random() < 0.3 else str(rng.choice(WORDS)) for _ in range(8)
    )


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    n = 400
    ids = [f"id{i:05d}" for i in rng.permutation(90000)[:n]]
    authors = rng.choice(CLASSES, size=n, p=[0.4, 0.29, 0.31])
    train = pd.DataFrame({"id": ids, "text": [_sentence(rng, a) for a in authors], "author": authors})
    test = pd.DataFrame({"id": [f"id9{i:04d}" for i in range(50)], "text": "a sentence"})
    zip_files(raw / "train.zip", {"train.csv": train.to_csv(index=False).encode()})
    zip_files(raw / "test.zip", {"test.csv": test.to_csv(index=False).encode()})
    sample = test[["id"]].assign(EAP=0.403493538995863, HPL=0.287808366106543, MWS=0.308698094897594)
    zip_files(raw / "sample_submission.zip", {"sample_submission.csv": sample.to_csv(index=False).encode()})
    write_leaderboard(raw, "spooky-author-identification", np.linspace(0.15, 1.1, 1200))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", *CLASSES]].astype({c: float for c in CLASSES})


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    probs = merged[[f"{c}_p" for c in CLASSES]].to_numpy()
    probs = probs / probs.sum(axis=1, keepdims=True)
    truth = merged[CLASSES].to_numpy()
    return float(-(truth * np.log(probs)).sum(axis=1).mean())


def uniform_is_ln3(data_dir: Path) -> None:
    from mleredux.grading.submission import grade_submission

    root = prepared_dir("spooky-author-identification", data_dir)
    answers = pd.read_csv(root / "private" / "test.csv")
    uniform = answers[["id"]].assign(EAP=1 / 3, HPL=1 / 3, MWS=1 / 3)
    path = data_dir / "uniform.csv"
    uniform.to_csv(path, index=False)
    report = grade_submission(path, "spooky-author-identification", data_dir)
    assert report.score_unrounded is not None and abs(report.score_unrounded - math.log(3)) < 1e-9


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    answers = pd.read_csv(private / "test.csv")
    assert not set(train["id"]) & set(answers["id"])
    assert set(pd.read_csv(public / "test.csv")["id"]) == set(answers["id"])


SPEC = LiteSpec(
    competition_id="spooky-author-identification",
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(("test.csv", "author"),),
    check_no_leak=no_leak,
    extra_checks=(uniform_is_ln3,),
)
