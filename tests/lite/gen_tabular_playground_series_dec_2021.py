"""Raw tabular-playground-series-dec-2021: Kaggle's competition zip holding three plain CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "tabular-playground-series-dec-2021"
FEATURES = [
    "Elevation",
    "Aspect",
    "Slope",
    "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology",
    "Horizontal_Distance_To_Roadways",
    "Hillshade_9am",
    "Hillshade_Noon",
    "Hillshade_3pm",
    "Horizontal_Distance_To_Fire_Points",
    *[f"Wilderness_Area{i}" for i in range(1, 5)],
    *[f"Soil_Type{i}" for i in range(1, 41)],
]
N_TRAIN = 500


def _rows(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame({"Id": ids})
    for name in FEATURES[:10]:
        frame[name] = rng.integers(-50, 4000, size=n)
    for name in FEATURES[10:]:
        frame[name] = rng.integers(0, 2, size=n)
    return frame


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    train = _rows(rng, np.arange(N_TRAIN))
    # Kaggle's class balance: mostly 2 and 1, then 3, 7, 6, 4 and (a single row) 5.
    train["Cover_Type"] = rng.choice([1, 2, 3, 4, 6, 7], size=N_TRAIN, p=[0.37, 0.56, 0.05, 0.004, 0.006, 0.01])
    train.loc[7, "Cover_Type"] = 5
    # Elevation tells the cover types apart (as it does in the real data), so an agent can learn something.
    train["Elevation"] = 1800 + 300 * train["Cover_Type"] + rng.integers(-200, 200, size=N_TRAIN)
    test = _rows(rng, np.arange(4_000_000, 4_000_040))
    sample = test[["Id"]].assign(Cover_Type=2)
    zip_files(
        raw / f"{ID}.zip",
        {
            "train.csv": train.to_csv(index=False).encode(),
            "test.csv": test.to_csv(index=False).encode(),
            "sample_submission.csv": sample.to_csv(index=False).encode(),
        },
    )
    scores = np.concatenate([np.linspace(0.95662, 0.9555, 900), np.linspace(0.9555, 0.2, 288)])
    write_leaderboard(raw, ID, np.round(scores, 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["Id", "Cover_Type"]]


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="Id", suffixes=("", "_p"))
    return float(np.mean(merged["Cover_Type"].to_numpy() == merged["Cover_Type_p"].to_numpy()))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 50 and len(train) == N_TRAIN - 50  # test_size=0.1 of 500 rows
    assert not set(train["Id"]) & set(answers["Id"])
    assert list(test["Id"]) == list(answers["Id"])
    assert list(train.columns) == ["Id", *FEATURES, "Cover_Type"]
    assert list(test.columns) == ["Id", *FEATURES]
    assert list(answers.columns) == ["Id", *FEATURES, "Cover_Type"]
    assert test["Id"].max() < 4_000_000  # drawn from Kaggle's train, not its unlabelled test


def labels_are_checked(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "labels.csv"
    # Labels written as floats are the same labels.
    answers[["Id"]].assign(Cover_Type=answers["Cover_Type"].astype(float)).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.valid_submission and report.score == 1.0
    wrong = answers[["Id"]].assign(Cover_Type=answers["Cover_Type"].where(answers.index >= 3, 8))
    wrong.to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission
    assert "'Cover_Type' has 3 values that are not allowed" in (report.invalid_reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "Cover_Type"),),
    check_no_leak=no_leak,
    extra_checks=(labels_are_checked,),
)
