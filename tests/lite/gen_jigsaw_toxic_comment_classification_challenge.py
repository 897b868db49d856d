"""Raw jigsaw-toxic-comment-classification-challenge: four zipped CSVs, as Kaggle ships them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "jigsaw-toxic-comment-classification-challenge"
CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
RATES = [0.3, 0.05, 0.15, 0.05, 0.15, 0.05]
WORDS = "you the article talk page edit please thanks stupid wiki hate source fool".split()
#: Comments that pandas' defaults would mangle (NA markers, quotes, commas, line breaks).
ODD_COMMENTS = ["NA", "null", 'He said "stop", then left.\nNew line here.', ""]
N_TRAIN, N_TEST = 300, 200


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{int(v):016x}" for v in rng.integers(0, 2**63, size=n)]


def _comments(rng: np.random.Generator, n: int) -> list[str]:
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) for _ in range(n)]
    texts[: len(ODD_COMMENTS)] = ODD_COMMENTS
    return texts


def _labels(rng: np.random.Generator, n: int) -> pd.DataFrame:
    labels = pd.DataFrame({c: (rng.random(n) < r).astype(int) for c, r in zip(CLASSES, RATES, strict=True)})
    labels.iloc[0, :] = 1  # every class has positives and negatives
    labels.iloc[1, :] = 0
    return labels


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    ids = _ids(rng, N_TRAIN + N_TEST)
    ids[N_TRAIN + 5] = "0012345678901234"  # an all-digit id keeps its leading zeros
    train = pd.DataFrame({"id": ids[:N_TRAIN], "comment_text": _comments(rng, N_TRAIN)})
    train = pd.concat([train, _labels(rng, N_TRAIN)], axis=1)
    test = pd.DataFrame({"id": ids[N_TRAIN:], "comment_text": _comments(rng, N_TEST)})
    labels = _labels(rng, N_TEST)
    # Kaggle left ~58% of the test rows unscored, every label of such a row being -1.
    unscored = np.arange(N_TEST) >= 2
    unscored[2:] = rng.random(N_TEST - 2) < 0.58
    labels.loc[unscored, :] = -1
    test_labels = pd.concat([test[["id"]], labels], axis=1)
    sample = test[["id"]].assign(**{c: 0.5 for c in CLASSES})
    for name, frame in (
        ("train.csv", train),
        ("test.csv", test),
        ("test_labels.csv", test_labels),
        ("sample_submission.csv", sample),
    ):
        zip_files(raw / f"{name}.zip", {name: frame.to_csv(index=False).encode()})
    scores = np.concatenate([np.linspace(0.9885, 0.9790, 2300), np.linspace(0.9790, 0.5, 2239)])
    write_leaderboard(raw, ID, np.round(scores, 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", *CLASSES]].replace(-1, 0).astype({c: float for c in CLASSES})


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties, in plain numpy."""
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    positives = truth == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    merged = merged[(merged[CLASSES] != -1).all(axis=1)]
    return float(np.mean([_auc(merged[c].to_numpy(), merged[f"{c}_p"].to_numpy()) for c in CLASSES]))


def _text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str}, keep_default_na=False)


def no_leak(public: Path, private: Path) -> None:
    train, test, answers = _text(public / "train.csv"), _text(public / "test.csv"), _text(private / "test.csv")
    assert list(train.columns) == ["id", "comment_text", *CLASSES]
    assert list(test.columns) == ["id", "comment_text"]
    assert list(answers.columns) == ["id", *CLASSES]
    assert len(train) == N_TRAIN and len(test) == len(answers) == N_TEST
    assert not set(train["id"]) & set(answers["id"])
    assert list(test["id"]) == list(answers["id"])
    assert "0012345678901234" in set(answers["id"])
    assert list(train["comment_text"][: len(ODD_COMMENTS)]) == ODD_COMMENTS
    assert list(test["comment_text"][: len(ODD_COMMENTS)]) == ODD_COMMENTS
    assert (answers[CLASSES] == -1).all(axis=1).sum() > 50  # the unscored rows stay in the answers


def _grade(data_dir: Path, frame: pd.DataFrame) -> tuple[float | None, str | None]:
    path = data_dir / "jigsaw-check.csv"
    frame.to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score == (None if report.score_unrounded is None else round(report.score_unrounded, 5))
    return report.score_unrounded, report.invalid_reason


def metric_checks(data_dir: Path) -> None:
    answers = _text(prepared_dir(ID, data_dir) / "private" / "test.csv")
    unscored = (answers[CLASSES] == -1).all(axis=1)
    # Constant predictions: AUC 0.5 in every column.
    assert _grade(data_dir, answers[["id"]].assign(**{c: 0.2 for c in CLASSES}))[0] == 0.5
    # Unscored rows do not count: the perfect submission with nonsense there is still perfect.
    best = perfect(answers, answers)
    noisy = best.copy()
    noisy.loc[unscored, CLASSES] = np.random.default_rng(0).random((int(unscored.sum()), len(CLASSES)))
    assert _grade(data_dir, noisy)[0] == 1.0
    # Columns are matched by name: one inverted column costs exactly 1/6 of the score.
    flipped = best.assign(threat=1.0 - best["threat"])
    score = _grade(data_dir, flipped[["id", *reversed(CLASSES)]])[0]
    assert score is not None and abs(score - 5 / 6) < 1e-12
    # Predictions are probabilities.
    score, reason = _grade(data_dir, best.assign(insult=best["insult"] * 3 - 1))
    assert score is None and "'insult' has" in (reason or "") and "outside [0, 1]" in (reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "toxic"), ("test.csv", "identity_hate")),
    check_no_leak=no_leak,
    extra_checks=(metric_checks,),
)
