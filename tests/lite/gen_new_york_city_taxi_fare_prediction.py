"""Raw new-york-city-taxi-fare-prediction: Kaggle's competition zip of plain CSVs and an RTF.

MLE-bench holds out a fixed 9,914 rows, so the raw train here has just over 9,914 rows.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mleredux.competitions.lite import new_york_city_taxi_fare_prediction as taxi
from mleredux.competitions.raw import RawFileMissingError
from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "new-york-city-taxi-fare-prediction"
N_TRAIN = 10_200
COLUMNS = [
    "key",
    "fare_amount",
    "pickup_datetime",
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
]


def _rides(rng: np.random.Generator, n: int, first: int) -> pd.DataFrame:
    seconds = rng.integers(1_230_768_000, 1_435_708_800, size=n)  # 2009 to mid-2015
    when = pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    suffix = [f"{first + i:07d}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "key": [f"{w}.{s}" for w, s in zip(when, suffix, strict=True)],
            "pickup_datetime": [f"{w} UTC" for w in when],
            "pickup_longitude": np.round(rng.normal(-73.975, 0.03, size=n), 6),
            "pickup_latitude": np.round(rng.normal(40.751, 0.03, size=n), 6),
            "dropoff_longitude": np.round(rng.normal(-73.974, 0.03, size=n), 6),
            "dropoff_latitude": np.round(rng.normal(40.751, 0.03, size=n), 6),
            "passenger_count": rng.choice([0, 1, 2, 3, 4, 5, 6], size=n, p=[0.01, 0.69, 0.15, 0.04, 0.02, 0.06, 0.03]),
        }
    )
    return frame  # Kaggle's rows are not in time order either; the suffix keeps every key unique


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    train = _rides(rng, N_TRAIN, 1)
    distance = np.hypot(
        train["pickup_longitude"] - train["dropoff_longitude"], train["pickup_latitude"] - train["dropoff_latitude"]
    )
    train.insert(1, "fare_amount", np.round(2.5 + 90 * distance + rng.exponential(2.0, N_TRAIN), 2))
    # The raw data's oddities: a negative fare, a missing drop-off, a bare 0 (below).
    train.loc[5, "fare_amount"] = -2.5
    lines = train.to_csv(index=False).splitlines()
    fields = lines[11].split(",")  # row 10: no drop-off, as 376 rows of Kaggle's file
    fields[5] = fields[6] = ""
    lines[11] = ",".join(fields)
    fields = lines[13].split(",")  # row 12: a bare 0, which pandas would print as 0.0
    fields[3] = "0"
    lines[13] = ",".join(fields)
    train_csv = ("\n".join(lines) + "\n").encode()
    test = _rides(rng, 40, N_TRAIN + 1)
    sample = test[["key"]].assign(fare_amount=11.35)
    zip_files(
        raw / f"{ID}.zip",
        {
            "GCP-Coupons-Instructions.rtf": b"{\\rtf1\\ansi Coupon instructions.}\n",
            "sample_submission.csv": sample.to_csv(index=False).encode(),
            "test.csv": test.to_csv(index=False).encode(),
            "train.csv": train_csv,
        },
    )
    scores = np.concatenate([np.linspace(2.83, 3.6, 1000), np.linspace(3.6, 12.0, 483)])
    write_leaderboard(raw, ID, np.round(scores, 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["key", "fare_amount"]]


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="key", suffixes=("", "_p"))
    error = merged["fare_amount"].to_numpy() - merged["fare_amount_p"].to_numpy()
    return float(np.sqrt(np.mean(error**2)))


def _read_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def no_leak(public: Path, private: Path) -> None:
    train = _read_text(public / "train.csv")
    test = _read_text(public / "test.csv")
    answers = _read_text(private / "test.csv")
    assert not (public / "labels.csv").exists()
    assert len(answers) == 9914 and len(train) == N_TRAIN - 9914
    assert not set(train["key"]) & set(answers["key"])
    assert list(test["key"]) == list(answers["key"])
    assert list(train.columns) == COLUMNS == list(answers.columns)
    assert list(test.columns) == [c for c in COLUMNS if c != "fare_amount"]
    assert (public / "GCP-Coupons-Instructions.rtf").is_file()
    # The rows are the raw rows, text and all: the missing drop-off stays empty, 0 stays 0.
    every = pd.concat([train, answers])
    assert (every["dropoff_longitude"] == "").sum() == 1
    assert (every["pickup_longitude"] == "0").sum() == 1


def split_matches_train_test_split(data_dir: Path) -> None:
    """The streamed split, across many buckets and batches, is `train_test_split`'s, row for row."""
    work = data_dir / "taxi-split"
    work.mkdir()
    train = _rides(np.random.default_rng(7), N_TRAIN, 1)
    train.insert(1, "fare_amount", 7.25)
    source = work / "train.csv"
    source.write_bytes(train.to_csv(index=False).replace("\n", "\r\n").encode() + b"\r\n")
    expected_train, expected_test = train_test_split(_read_text(source), test_size=9914, random_state=0)
    original = taxi.BATCH_ROWS
    taxi.BATCH_ROWS = 37
    try:
        header, test_rows = taxi.split_train_csv(source, work / "out.csv", work / "scratch", bucket_rows=23)
    finally:
        taxi.BATCH_ROWS = original
    got_train = pd.read_csv(work / "out.csv", dtype=str, keep_default_na=False)
    got_test = pd.read_csv(io.BytesIO(b"\n".join([header, *test_rows])), dtype=str, keep_default_na=False)
    assert list(got_train["key"]) == list(expected_train["key"])
    assert list(got_test["key"]) == list(expected_test["key"])
    assert got_train.equals(expected_train.reset_index(drop=True))
    assert got_test.equals(expected_test.reset_index(drop=True))
    assert not list((work / "scratch").iterdir())
    # A quoted line break would make lines and rows differ: refused rather than split wrongly.
    with source.open("ab") as out:
        out.write(b'2015-01-01 00:00:00.9,5.0,"2015-01-01\n00:00:00 UTC",-73.9,40.7,-73.9,40.7,1\r\n')
    try:
        taxi.split_train_csv(source, work / "out.csv", work / "scratch")
    except RawFileMissingError as exc:
        assert "line break" in str(exc)
    else:
        raise AssertionError("a quoted line break was not refused")


def constant_scores_its_deviation(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv", dtype={"key": str})
    path = data_dir / "constant.csv"
    answers[["key"]].assign(fare_amount=0.0).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    expected = float(np.sqrt(np.mean(answers["fare_amount"].to_numpy() ** 2)))
    assert report.score_unrounded is not None and abs(report.score_unrounded - expected) < 1e-12


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(("test.csv", "fare_amount"),),
    check_no_leak=no_leak,
    extra_checks=(split_matches_train_test_split, constant_scores_its_deviation),
)
