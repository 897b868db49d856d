"""Raw text-normalization-challenge-english-language: en_*.csv.zip files with quoted text, as Kaggle ships them.

The tokens include words pandas would read as missing ("NA", "null", "nan", "None", "N/A") to
check that they survive preparation and are graded as text. `make_spec` is shared with the
Russian challenge's generator.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "text-normalization-challenge-english-language"

#: (class, before, after) tokens; the NA-like ones are real words to pandas' default reader.
ENGLISH_TOKENS: tuple[tuple[str, str, str], ...] = (
    ("PLAIN", "the", "the"),
    ("PLAIN", "house", "house"),
    ("PUNCT", ",", ","),
    ("PUNCT", ".", "."),
    ("CARDINAL", "12", "twelve"),
    ("CARDINAL", "1", "one"),
    ("DATE", "1996", "nineteen ninety six"),
    ("MONEY", "$3.16", "three dollars sixteen cents"),
    ("TIME", "12:47", "twelve forty seven"),
    ("LETTERS", "NA", "n a"),
    ("LETTERS", "N/A", "n a"),
    ("PLAIN", "null", "null"),
    ("PLAIN", "None", "None"),
    ("PLAIN", "nan", "nan"),
    ("PLAIN", "NA", "NA"),
    ("PLAIN", 'say "hi"', 'say "hi"'),
)
#: Words pandas reads as missing by default; every sentence has each of them.
NA_WORDS = ("NA", "N/A", "null", "None", "nan")
N_SENTENCES = 40
QUOTED = {"index": False, "quoting": csv.QUOTE_NONNUMERIC}


def _sentences(rng: np.random.Generator, tokens: Sequence[tuple[str, str, str]], prefix: str) -> pd.DataFrame:
    rows = []
    for sentence in range(N_SENTENCES):
        # A word unique to the sentence (to check that no sentence is split), then NA-like tokens
        # in every sentence (so the test set has some), then random ones.
        chosen = [("PLAIN", f"{prefix}{sentence}", f"{prefix}{sentence}")]
        chosen += [t for t in tokens if t[1] in NA_WORDS]
        chosen += [tokens[i] for i in rng.integers(0, len(tokens), size=int(rng.integers(2, 7)))]
        rows += [(sentence, k, *token) for k, token in enumerate(chosen)]
    return pd.DataFrame(rows, columns=["sentence_id", "token_id", "class", "before", "after"])


def write_raw_for(
    raw: Path, rng: np.random.Generator, competition_id: str, prefix: str, tokens: Sequence[tuple[str, str, str]]
) -> None:
    train = _sentences(rng, tokens, "word")
    test = _sentences(rng, tokens, "other")[["sentence_id", "token_id", "before"]]
    sample = pd.DataFrame(
        {"id": test["sentence_id"].astype(str) + "_" + test["token_id"].astype(str), "after": test["before"]}
    )
    for frame, name in (
        (train, f"{prefix}_train.csv"),
        (test, f"{prefix}_test.csv"),
        (test, f"{prefix}_test_2.csv"),
        (sample, f"{prefix}_sample_submission.csv"),
        (sample, f"{prefix}_sample_submission_2.csv"),
    ):
        zip_files(raw / f"{name}.zip", {name: frame.to_csv(**QUOTED).encode()})
    # Kaggle's final boards: 260 English teams (best 0.9976), 162 Russian ones (best 0.9928).
    top, teams = (0.9976, 260) if prefix == "en" else (0.9928, 162)
    write_leaderboard(raw, competition_id, np.round(np.linspace(top, 0.2, teams), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", "after"]]


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    assert len(merged) == len(answers)
    return float(np.mean(merged["after"].to_numpy() == merged["after_p"].to_numpy()))


def _read_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def make_no_leak(prefix: str, tokens: Sequence[tuple[str, str, str]]):  # type: ignore[no-untyped-def]
    def no_leak(public: Path, private: Path) -> None:
        train = _read_text(public / f"{prefix}_train.csv.zip")
        test = _read_text(public / f"{prefix}_test_2.csv.zip")
        answers = _read_text(private / "answers.csv")
        assert list(train.columns) == ["sentence_id", "token_id", "class", "before", "after"]
        assert list(test.columns) == ["sentence_id", "token_id", "before"]
        assert list(answers.columns) == ["id", "after"]
        # MLE-bench's split: 10% of the sentences, by sentence, renumbered from 0 on each side.
        held_out = train_test_split(np.arange(N_SENTENCES), test_size=0.1, random_state=0)[1]
        assert test["sentence_id"].astype(int).nunique() == len(held_out) == 4
        assert sorted(test["sentence_id"].astype(int).unique()) == list(range(len(held_out)))
        assert sorted(train["sentence_id"].astype(int).unique()) == list(range(N_SENTENCES - len(held_out)))
        unique_words = {f"word{s}" for s in held_out}
        assert unique_words <= set(test["before"]) and not unique_words & set(train["before"])
        assert set(test["sentence_id"] + "_" + test["token_id"]) == set(answers["id"])
        # Words pandas would read as missing stay words, in public and private files alike.
        for word in NA_WORDS:
            assert word in set(train["before"]) and word in set(test["before"]), word
        assert {"NA", "null", "nan", "None"} <= set(answers["after"])
        assert (public / "description.md").is_file()

    return no_leak


def make_text_checks(competition_id: str):  # type: ignore[no-untyped-def]
    def na_words_are_text(data_dir: Path) -> None:
        answers = _read_text(prepared_dir(competition_id, data_dir) / "private" / "answers.csv")
        path = data_dir / "na_words.csv"
        # Writing "nan" where the truth is "NA" is wrong here (MLE-bench would count it right).
        wrong = answers.assign(after=answers["after"].where(answers["after"] != "NA", "nan"))
        wrong.to_csv(path, index=False)
        report = grade_submission(path, competition_id, data_dir)
        expected = float(np.mean(answers["after"] != "NA"))
        assert report.score is not None and expected < 1.0 and abs((report.score_unrounded or 0) - expected) < 1e-12
        # Numbers as predictions are text too.
        answers.assign(after="1").to_csv(path, index=False)
        report = grade_submission(path, competition_id, data_dir)
        assert report.valid_submission and report.score is not None
        ones = float(np.mean(answers["after"] == "1"))
        assert report.score_unrounded is not None and abs(report.score_unrounded - ones) < 1e-12
        # An empty prediction is a missing one.
        answers.assign(after=answers["after"].where(answers.index > 0, "")).to_csv(path, index=False)
        report = grade_submission(path, competition_id, data_dir)
        assert not report.valid_submission and "1 empty or NaN" in (report.invalid_reason or "")

    return na_words_are_text


def make_spec(competition_id: str, prefix: str, tokens: Sequence[tuple[str, str, str]]) -> LiteSpec:
    return LiteSpec(
        competition_id=competition_id,
        write_raw=lambda raw, rng: write_raw_for(raw, rng, competition_id, prefix, tokens),
        perfect=perfect,
        sample_score=sample_score,
        best_score=1.0,
        hidden=((f"{prefix}_test_2.csv.zip", "after"), (f"{prefix}_test_2.csv.zip", "class")),
        check_no_leak=make_no_leak(prefix, tokens),
        extra_checks=(make_text_checks(competition_id),),
    )


SPEC = make_spec(ID, "en", ENGLISH_TOKENS)
