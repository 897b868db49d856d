"""spooky-author-identification: which of three horror writers wrote a sentence; multi-class log loss.

Split (as MLE-bench documents it): Kaggle's labelled train.csv is split 90/10 with
`train_test_split(test_size=0.1, random_state=0)`; the 10% become the test set. The answers are
one-hot (id, EAP, HPL, MWS); the sample submission carries Kaggle's own constant priors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.raw import RawData
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import log_loss

CLASSES = ("EAP", "HPL", "MWS")
#: The constant probabilities of Kaggle's sample submission.
SAMPLE_PRIORS = {"EAP": 0.403493538995863, "HPL": 0.287808366106543, "MWS": 0.308698094897594}

DESCRIPTION = """\
# Spooky author identification

Each row of `train.csv` is a sentence (`text`) from a work of fiction by one of three authors of
horror stories: Edgar Allan Poe (`EAP`), H. P. Lovecraft (`HPL`) or Mary Wollstonecraft Shelley
(`MWS`), given in `author`. For each sentence of `test.csv`, predict the probability that each
author wrote it.

## Files
- `train.csv`: `id`, `text`, `author`.
- `test.csv`: `id`, `text`.
- `sample_submission.csv`: `id,EAP,HPL,MWS`, one row per test sentence.

## Evaluation
Multi-class logarithmic loss (lower is better). Each row's probabilities should sum to 1; they
are rescaled to sum to 1 and clipped away from 0 and 1 before the loss is taken.
"""


class SpookyAuthorIdentification(Competition):
    info = supported_entry("spooky-author-identification")
    id_column = "id"
    target_columns = CLASSES

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        source = pd.read_csv(raw.path("train.csv"))
        train, test = train_test_split(source, test_size=0.1, random_state=0)
        one_hot = pd.DataFrame({"id": test["id"].to_numpy()})
        for name in CLASSES:
            one_hot[name] = (test["author"].to_numpy() == name).astype(int)
        sample = one_hot[["id"]].assign(**SAMPLE_PRIORS)
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=["author"]).to_csv(public / "test.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        one_hot.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, CLASSES, rows_sum_to_one=True)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        truth = np.argmax(answers[list(CLASSES)].to_numpy(), axis=1)
        return log_loss(truth, submission[list(CLASSES)].to_numpy(), labels=list(range(len(CLASSES))))


register(SpookyAuthorIdentification())
