"""Raw detecting-insults-in-social-commentary: plain CSVs as Kaggle ships them (train.csv,
test_with_solutions.csv, the verification-stage test.csv and impermium_verification_*.csv, and
sample_submission_null.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard

ID = "detecting-insults-in-social-commentary"
WORDS = "you are an idiot the game was great moron thanks for sharing what a fool nice point lol".split()
N_TEST = 120
#: The test comment that occurs twice in test_with_solutions.csv (same label both times).
REPEATED = '"Thank you."'


def _comments(rng: np.random.Generator, n: int, prefix: str) -> list[str]:
    # Kaggle's comments are unicode-escaped text wrapped in double quotes, with commas and "\\n".
    return [f'"{prefix}{i} ' + " ".join(rng.choice(WORDS, size=6)) + ',\\\\n ok"' for i in range(n)]


def _dates(rng: np.random.Generator, n: int) -> list[str]:
    stamps = [f"201206{rng.integers(1, 29):02d}{rng.integers(0, 235959):06d}Z" for _ in range(n)]
    return [s if rng.random() > 0.2 else "" for s in stamps]


def _mark_insults(comments: pd.Series, insults: pd.Series, rng: np.random.Generator) -> list[str]:
    """Most insults address someone as a moron, so the text says something about the label."""
    return [
        c.replace(" ", " you moron ", 1) if y and rng.random() < 0.8 else c
        for c, y in zip(comments, insults, strict=True)
    ]


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    train = pd.DataFrame({"Insult": rng.choice([0, 1], size=300, p=[0.74, 0.26]), "Date": _dates(rng, 300)}).assign(
        Comment=_comments(rng, 300, "train")
    )
    train["Comment"] = _mark_insults(train["Comment"], train["Insult"], rng)
    train.to_csv(raw / "train.csv", index=False)
    comments = _comments(rng, N_TEST - 2, "test")
    comments[5:5] = [REPEATED]
    comments.append(REPEATED)
    solutions = pd.DataFrame(
        {
            "Insult": rng.choice([0, 1], size=N_TEST, p=[0.7, 0.3]),
            "Date": _dates(rng, N_TEST),
            "Comment": comments,
            "Usage": rng.choice(["PublicTest", "PrivateTest"], size=N_TEST),
        }
    )
    solutions.loc[solutions["Comment"] == REPEATED, "Insult"] = 0
    solutions["Comment"] = _mark_insults(solutions["Comment"], solutions["Insult"], rng)
    solutions.loc[0, "Date"] = ""
    solutions.to_csv(raw / "test_with_solutions.csv", index=False)
    solutions.assign(Insult=0)[["Insult", "Date", "Comment"]].to_csv(raw / "sample_submission_null.csv", index=False)
    verification = pd.DataFrame({"id": range(1, 41), "Date": _dates(rng, 40), "Comment": _comments(rng, 40, "ver")})
    verification.to_csv(raw / "impermium_verification_set.csv", index=False)
    verification.to_csv(raw / "test.csv", index=False)
    labels = verification.assign(Insult=rng.choice([0, 1], size=40), Usage="PrivateTest")
    labels[["id", "Insult", "Date", "Comment", "Usage"]].to_csv(raw / "impermium_verification_labels.csv", index=False)
    write_leaderboard(raw, ID, np.round(np.linspace(0.84249, 0.5, 50), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    first = answers.drop_duplicates(subset="Comment", keep="first")
    return first[["Comment", "Date", "Insult"]]


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted as one half."""
    positives, negatives = score[truth == 1], score[truth == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(wins / (len(positives) * len(negatives)))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    # Every answer row, a repeated comment included, is scored with its comment's prediction.
    merged = answers.merge(sample[["Comment", "Insult"]], on="Comment", how="left", suffixes=("", "_p"))
    assert len(merged) == len(answers) == N_TEST
    return _auc(merged["Insult"].to_numpy(), merged["Insult_p"].to_numpy(dtype=float))


def no_leak(public: Path, private: Path) -> None:
    options: dict = {"keep_default_na": False}
    train = pd.read_csv(public / "train.csv", **options)
    test = pd.read_csv(public / "test.csv", **options)
    sample = pd.read_csv(public / "sample_submission_null.csv", **options)
    answers = pd.read_csv(private / "test.csv", **options)
    assert list(train.columns) == ["Insult", "Date", "Comment"]
    assert list(test.columns) == ["Date", "Comment"]
    assert list(sample.columns) == ["Comment", "Date", "Insult"] and (sample["Insult"] == 0).all()
    assert list(answers.columns) == ["Insult", "Date", "Comment", "Usage"] and len(answers) == N_TEST
    # One row per distinct comment, in the answers' order, with the answers' dates (empty ones too).
    first = answers.drop_duplicates(subset="Comment")
    assert len(test) == N_TEST - 1 and test["Comment"].is_unique
    assert test.equals(first[["Date", "Comment"]].reset_index(drop=True))
    assert sample[["Comment", "Date"]].equals(first[["Comment", "Date"]].reset_index(drop=True))
    assert test.loc[0, "Date"] == ""
    assert not set(train["Comment"]) & set(answers["Comment"])
    assert "ver0" not in (public / "test.csv").read_text()


def repeated_comments_and_constants(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv", keep_default_na=False)
    first = answers.drop_duplicates(subset="Comment")
    path = data_dir / "insults.csv"
    # A constant prediction has AUC 0.5.
    first[["Comment", "Date"]].assign(Insult=0.7).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5
    # MLE-bench's column order, and a submission whose dates are all empty, grade the same.
    truth = first["Insult"].to_numpy(dtype=float)
    scored = first.assign(Insult=0.3 * truth + 0.1 * (np.arange(len(first)) % 5))
    scored[["Insult", "Date", "Comment"]].to_csv(path, index=False)
    mlebench_order = grade_submission(path, ID, data_dir).score
    assert mlebench_order is not None and 0.5 < mlebench_order < 1.0
    scored[["Comment", "Insult"]].assign(Date="").to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == mlebench_order
    # The repeated comment listed as often as the answers list it (MLE-bench's sample has one row
    # per answer row) is valid, its rows paired in order; listed once more, it is a duplicate id.
    times = int((answers["Comment"] == REPEATED).sum())
    assert times >= 2
    extra = scored[scored["Comment"] == REPEATED]
    as_often = pd.concat([scored, *[extra] * (times - 1)])[["Comment", "Date", "Insult"]]
    as_often.to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.valid_submission and report.score == mlebench_order, report.invalid_reason
    pd.concat([as_often, extra[["Comment", "Date", "Insult"]]]).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "1 ids appear more than once" in (report.invalid_reason or "")
    # Predictions outside [0, 1] are invalid; an empty one is a missing value.
    first[["Comment", "Date"]].assign(Insult=2.0).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and f"'Insult' has {len(first)} values outside [0, 1]" in (
        report.invalid_reason or ""
    )
    first[["Comment", "Date"]].assign(Insult="").to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "empty or NaN" in (report.invalid_reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "Insult"), ("test.csv", "Usage")),
    check_no_leak=no_leak,
    extra_checks=(repeated_comments_and_constants,),
)
