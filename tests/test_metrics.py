"""The numpy ROC AUC is scikit-learn's, to the last bit, on ties, scores and label encodings of every kind."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mleredux.grading.metrics import mean_columnwise_roc_auc, roc_auc


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_is_scikit_learns_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(200):
        rows = int(rng.integers(2, 2000))
        labels = rng.integers(0, 2, rows)
        if labels.min() == labels.max():
            continue
        scores = [
            rng.random(rows),
            np.round(rng.random(rows), 1),  # many ties
            rng.integers(0, 4, rows).astype(float),  # a handful of distinct scores
            labels * rng.random(rows) + rng.random(rows),  # informative
            np.full(rows, 0.3),  # constant
        ][trial % 5]
        for truth in (labels, labels.astype(bool), np.where(labels == 1, 1, -1)):
            assert roc_auc(truth, scores) == roc_auc_score(truth, scores)


def test_roc_auc_refuses_a_single_class_or_more_than_two() -> None:
    with pytest.raises(ValueError, match="single class"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 1, 2], [0.1, 0.2, 0.3])


def test_mean_columnwise_roc_auc_is_the_macro_average() -> None:
    rng = np.random.default_rng(9)
    truth = rng.integers(0, 2, (500, 6))
    score = rng.random((500, 6)) + truth * 0.3
    assert mean_columnwise_roc_auc(truth, score) == roc_auc_score(truth, score, average="macro")
