"""Raw random-acts-of-pizza: train.json and test.json (also zipped as train.zip, test.zip) and
sampleSubmission.csv, as Kaggle ships them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "random-acts-of-pizza"
TARGET = "requester_received_pizza"
#: Kaggle's test.json fields, in its order: what is known when a request is posted.
TEST_FIELDS = [
    "giver_username_if_known",
    "request_id",
    "request_text_edit_aware",
    "request_title",
    "requester_account_age_in_days_at_request",
    "requester_days_since_first_post_on_raop_at_request",
    "requester_number_of_comments_at_request",
    "requester_number_of_comments_in_raop_at_request",
    "requester_number_of_posts_at_request",
    "requester_number_of_posts_on_raop_at_request",
    "requester_number_of_subreddits_at_request",
    "requester_subreddits_at_request",
    "requester_upvotes_minus_downvotes_at_request",
    "requester_upvotes_plus_downvotes_at_request",
    "requester_username",
    "unix_timestamp_of_request",
    "unix_timestamp_of_request_utc",
]
#: Fields only the training requests have.
TRAIN_ONLY = [
    "number_of_downvotes_of_request_at_retrieval",
    "number_of_upvotes_of_request_at_retrieval",
    "post_was_edited",
    "request_number_of_comments_at_retrieval",
    "request_text",
    "requester_account_age_in_days_at_retrieval",
    "requester_days_since_first_post_on_raop_at_retrieval",
    "requester_number_of_comments_at_retrieval",
    "requester_number_of_comments_in_raop_at_retrieval",
    "requester_number_of_posts_at_retrieval",
    "requester_number_of_posts_on_raop_at_retrieval",
    TARGET,
    "requester_upvotes_minus_downvotes_at_retrieval",
    "requester_upvotes_plus_downvotes_at_retrieval",
    "requester_user_flair",
]
N_TRAIN, N_TEST = 400, 160
WORDS = "pizza please hungry broke student paycheck friday kids rent thanks would love help".split()


def _request(rng: np.random.Generator, i: int, labelled: bool) -> dict[str, Any]:
    got = bool(rng.random() < 0.25)
    text = " ".join(rng.choice(WORDS, size=12))
    record: dict[str, Any] = {
        "giver_username_if_known": "N/A",
        "request_id": f"t3_{i:x}{rng.integers(16**3, 16**4):x}",
        "request_text_edit_aware": text,
        "request_title": "[Request] " + " ".join(rng.choice(WORDS, size=4)),
        "requester_account_age_in_days_at_request": float(rng.uniform(0, 2000)),
        "requester_days_since_first_post_on_raop_at_request": float(rng.choice([0.0, rng.uniform(0, 300)])),
        "requester_number_of_comments_at_request": int(rng.integers(0, 900)),
        "requester_number_of_comments_in_raop_at_request": int(rng.integers(0, 20)),
        "requester_number_of_posts_at_request": int(rng.integers(0, 200)),
        "requester_number_of_posts_on_raop_at_request": int(rng.integers(0, 3)),
        "requester_number_of_subreddits_at_request": 2,
        "requester_subreddits_at_request": ["AskReddit", "pizza"],
        "requester_upvotes_minus_downvotes_at_request": int(rng.integers(-10, 5000)),
        "requester_upvotes_plus_downvotes_at_request": int(rng.integers(0, 9000)),
        "requester_username": f"user_{i}_é",
        "unix_timestamp_of_request": 1.3e9 + float(rng.integers(0, 90_000_000)),
        "unix_timestamp_of_request_utc": 1.3e9 + float(rng.integers(0, 90_000_000)),
    }
    if not labelled:
        return record
    extra: dict[str, Any] = {field: int(rng.integers(0, 50)) for field in TRAIN_ONLY}
    extra.update(
        {
            "post_was_edited": bool(rng.random() < 0.1),
            "request_text": text + (" EDIT: thank you!" if got else ""),
            "requester_account_age_in_days_at_retrieval": float(rng.uniform(0, 2500)),
            TARGET: got,
            "requester_user_flair": "shroom" if got else None,
        }
    )
    if got:
        record["giver_username_if_known"] = f"giver_{i}"
    merged = {**record, **extra}
    return {key: merged[key] for key in sorted(merged)}


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    train = [_request(rng, i, labelled=True) for i in range(N_TRAIN)]
    test = [_request(rng, 10_000 + i, labelled=False) for i in range(N_TEST)]
    for name, records in (("train", train), ("test", test)):
        content = json.dumps(records, indent=4).encode()
        (raw / f"{name}.json").write_bytes(content)
        zip_files(raw / f"{name}.zip", {f"{name}.json": content})
    sample = pd.DataFrame({"request_id": [r["request_id"] for r in test], TARGET: 0})
    sample.to_csv(raw / "sampleSubmission.csv", index=False)
    write_leaderboard(raw, ID, np.round(np.linspace(1.0, 0.48, 462), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["request_id", TARGET]].astype({TARGET: float})


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted as one half."""
    positives, negatives = score[truth == 1], score[truth == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(wins / (len(positives) * len(negatives)))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="request_id", suffixes=("", "_p"))
    return _auc(merged[TARGET].to_numpy(), merged[f"{TARGET}_p"].to_numpy(dtype=float))


def no_leak(public: Path, private: Path) -> None:
    train = json.loads((public / "train.json").read_text())
    test = json.loads((public / "test.json").read_text())
    answers = pd.read_csv(private / "test.csv")
    expected_test = math.ceil(N_TEST / (N_TRAIN + N_TEST) * N_TRAIN)
    assert len(answers) == len(test) == expected_test and len(train) == N_TRAIN - expected_test
    assert list(answers.columns) == ["request_id", TARGET] and set(answers[TARGET]) <= {0, 1}
    assert all(list(record) == TEST_FIELDS for record in test)
    assert all(TARGET in record for record in train)
    assert not {r["request_id"] for r in train} & set(answers["request_id"])
    assert [r["request_id"] for r in test] == list(answers["request_id"])
    assert (public / "train.zip").is_file() and (public / "test.zip").is_file()


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "constant.csv"
    answers[["request_id"]].assign(**{TARGET: 0.42}).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5
    answers[["request_id"]].assign(**{TARGET: -0.1}).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission
    assert f"'{TARGET}' has {len(answers)} values outside [0, 1]" in (report.invalid_reason or "")


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(),  # test.json is JSON: no_leak checks its fields
    check_no_leak=no_leak,
    extra_checks=(constant_is_half,),
)
