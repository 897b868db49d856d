"""Raw tabular-playground-series-may-2022: train.csv, test.csv, sample_submission.csv as Kaggle ships them.

MLE-bench holds out a fixed 100,000 rows, so the raw train here has just over 100,000 rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard

ID = "tabular-playground-series-may-2022"
N_TRAIN = 100_300
FLOATS = [f"f_{i:02d}" for i in (*range(0, 7), *range(19, 27), 28)]
COUNTS = [f"f_{i:02d}" for i in range(7, 19)]
FEATURES = [f"f_{i:02d}" for i in range(31)]


def _rows(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    n = len(ids)
    columns: dict[str, object] = {"id": ids}
    for name in FEATURES:
        if name in FLOATS:
            columns[name] = np.round(rng.normal(size=n), 2)
        elif name in COUNTS:
            columns[name] = rng.poisson(2.0, size=n)
        elif name == "f_27":
            letters = (rng.integers(0, 20, size=(n, 10)) + ord("A")).astype(np.uint8)
            columns[name] = letters.view("S10").ravel().astype(str)
        elif name == "f_29":
            columns[name] = rng.integers(0, 2, size=n)
        else:
            columns[name] = rng.integers(0, 3, size=n)
    return pd.DataFrame(columns)


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    train = _rows(rng, np.arange(N_TRAIN))
    signal = train["f_00"].to_numpy() + rng.normal(size=N_TRAIN)
    train["target"] = (signal > 0.1).astype(int)
    train.to_csv(raw / "train.csv", index=False)
    test = _rows(rng, np.arange(900_000, 900_040))
    test.to_csv(raw / "test.csv", index=False)
    test[["id"]].assign(target=0.5).to_csv(raw / "sample_submission.csv", index=False)
    scores = np.concatenate([np.linspace(0.99836, 0.9975, 800), np.linspace(0.9975, 0.5, 351)])
    write_leaderboard(raw, ID, np.round(scores, 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", "target"]].astype({"target": float})


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties, in plain numpy."""
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    positives = truth == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    return _auc(merged["target"].to_numpy(), merged["target_p"].to_numpy())


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    n_train = N_TRAIN - 100_000
    assert len(answers) == 100_000 and len(train) == n_train
    # Renumbered: train ids 0 .. n_train - 1, test ids after them, in the split's order.
    assert list(train["id"]) == list(range(n_train))
    assert list(answers["id"]) == list(range(n_train, N_TRAIN)) == list(test["id"])
    assert list(answers.columns) == ["id", *FEATURES, "target"] == list(train.columns)
    assert list(test.columns) == ["id", *FEATURES]
    # The rows are Kaggle's labelled rows: every test row's features appear in the raw train once.
    assert not pd.concat([train[FEATURES], test[FEATURES]]).duplicated().any()


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv", usecols=["id"])
    path = data_dir / "constant.csv"
    answers.assign(target=0.9).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5
    answers.assign(target=np.where(answers.index < 4, -0.5, 0.5)).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission
    assert "'target' has 4 values outside [0, 1]" in (report.invalid_reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "target"),),
    check_no_leak=no_leak,
    extra_checks=(constant_is_half,),
)
