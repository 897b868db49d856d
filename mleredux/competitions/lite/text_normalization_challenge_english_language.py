"""text-normalization-challenge-english-language: write English tokens as they are spoken; accuracy.

Split (as MLE-bench documents it): only Kaggle's labelled `en_train.csv` (9,918,441 tokens) is
used. Its unique `sentence_id`s, in file order, are split with
`train_test_split(test_size=0.1, random_state=0)`, so no sentence is shared between train and
test (8,924,976 train and 993,465 test tokens). Each side's `sentence_id`s are renumbered from 0
in order of first appearance. Public: `en_train.csv.zip` (`sentence_id, token_id, class, before,
after`), `en_test_2.csv.zip` (`sentence_id, token_id, before`) and
`en_sample_submission_2.csv.zip` (`id, after` with `after = before`, `id = <sentence_id>_<token_id>`),
all written with every text field quoted. Private: `answers.csv` (`id, after`) and a copy of the
sample submission. The metric is the share of tokens whose `after` is exactly right.

Deliberate differences from MLE-bench:
- Text is read as text: MLE-bench reads the raw CSV with pandas' default NA handling, so tokens such
  as "NA", "null", "nan" or "None" become empty in its public files and answers, and any two of them
  compare equal when graded. Here they stay as written and are compared exactly.
- An empty `after` in a submission is rejected as missing (MLE-bench compares it as the text "nan").
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import text_accuracy

TARGET = "after"

#: How submissions and answers are read: every field is text, and only an empty field is missing
#: (so "NA", "null" or "nan" are words, not NaN).
TEXT_READ_OPTIONS: dict[str, Any] = {"keep_default_na": False, "na_values": [""], "dtype": {TARGET: str}}

DESCRIPTION_TEMPLATE = """\
# Text normalization challenge: {language}

Text normalization turns written text into the words a speech synthesizer should say: "12:47"
becomes "twelve forty seven", "$3.16" becomes "three dollars sixteen cents". Each row of the data
is one token of a sentence, in its written form (`before`) and, for training, its spoken form
(`after`) together with the kind of token (`class`: PLAIN, PUNCT, DATE, CARDINAL, ...). Many
tokens (plain words, punctuation) stay as they are. For every token of the test sentences,
predict its spoken form.

## Files
- `{prefix}_train.csv.zip`: `{prefix}_train.csv` with `sentence_id`, `token_id`, `class`,
  `before`, `after`.
- `{prefix}_test_2.csv.zip`: `{prefix}_test_2.csv` with `sentence_id`, `token_id`, `before`. Its
  sentences are not in the training file.
- `{prefix}_sample_submission_2.csv.zip`: `{prefix}_sample_submission_2.csv` with `id,after`, one row
  per test token, where `id` is `<sentence_id>_<token_id>`; it copies `before` into `after`.

Text fields are quoted. Read them as text (with pandas: `keep_default_na=False`), since tokens
such as "NA" or "null" are words here. An empty `after` counts as a missing prediction.

## Evaluation
Accuracy: the share of test tokens whose predicted `after` equals the true one exactly (higher is
better).
"""


class TextNormalization(Competition):
    """The English and Russian text normalization challenges: the same files with another prefix."""

    #: The file-name prefix of the language (`en`, `ru`).
    prefix: ClassVar[str]
    language: ClassVar[str]
    id_column = "id"
    target_columns = (TARGET,)
    answers_file = "answers.csv"
    read_csv_options = TEXT_READ_OPTIONS

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        prefix = self.prefix
        text_columns = {"class": str, "before": str, "after": str}
        source = pd.read_csv(raw_file(raw, f"{prefix}_train.csv"), na_filter=False, dtype=text_columns)
        sentences = source["sentence_id"].unique()
        train_sentences, test_sentences = train_test_split(sentences, test_size=0.1, random_state=0)
        train = source[source["sentence_id"].isin(train_sentences)].copy()
        test = source[source["sentence_id"].isin(test_sentences)].copy()
        # Renumber each side's sentences from 0, in order of first appearance.
        train["sentence_id"] = pd.factorize(train["sentence_id"])[0]
        test["sentence_id"] = pd.factorize(test["sentence_id"])[0]

        ids = test["sentence_id"].astype(str) + "_" + test["token_id"].astype(str)
        answers = pd.DataFrame({"id": ids.to_numpy(), TARGET: test["after"].to_numpy()})
        sample = pd.DataFrame({"id": ids.to_numpy(), TARGET: test["before"].to_numpy()})
        unlabelled = test[["sentence_id", "token_id", "before"]]
        train = train[["sentence_id", "token_id", "class", "before", "after"]]

        quoted: dict[str, Any] = {"index": False, "quotechar": '"', "quoting": csv.QUOTE_NONNUMERIC}
        for frame, name in (
            (train, f"{prefix}_train.csv"),
            (unlabelled, f"{prefix}_test_2.csv"),
            (sample, f"{prefix}_sample_submission_2.csv"),
        ):
            frame.to_csv(public / f"{name}.zip", compression={"method": "zip", "archive_name": name}, **quoted)
        (public / "description.md").write_text(DESCRIPTION_TEMPLATE.format(language=self.language, prefix=prefix))
        answers.to_csv(private / self.answers_file, **quoted)
        sample.to_csv(private / "sample_submission.csv", **quoted)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return text_accuracy(answers[TARGET], submission[TARGET])


class TextNormalizationEnglish(TextNormalization):
    info = supported_entry("text-normalization-challenge-english-language")
    prefix = "en"
    language = "English"
    sample_submission_file = "en_sample_submission_2.csv.zip"


register(TextNormalizationEnglish())
