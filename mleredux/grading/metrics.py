"""The metrics Kaggle defines for the competitions we grade, on aligned arrays.

Inputs are already checked (same length, no NaN, numeric where numbers are expected); these
functions only compute. Where Kaggle's definition leaves a choice (clipping in log loss), the
choice is the one MLE-bench makes, so scores agree; see docs/grading.md for where we differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn import metrics as skm

from mleredux.errors import InvalidSubmissionError

Array = npt.ArrayLike


def accuracy(y_true: Array, y_pred: Array) -> float:
    """Share of exact matches (labels compared as given: numbers with numbers, text with text)."""
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    return float((truth == pred).mean())


def text_accuracy(truth: pd.Series, predicted: pd.Series) -> float:
    """Share of exact text matches, compared as text columns (no per-row Python strings are made)."""
    same = truth.astype("str").reset_index(drop=True) == predicted.astype("str").reset_index(drop=True)
    return float(same.mean())


def roc_auc(y_true: Array, y_score: Array) -> float:
    """Area under the ROC curve of binary labels; a single-class truth has no AUC (a grader error)."""
    truth = np.asarray(y_true)
    if np.unique(truth).size < 2:
        raise ValueError("AUC is undefined: the answers contain a single class")
    return float(skm.roc_auc_score(truth, np.asarray(y_score, dtype=float)))


def mean_columnwise_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The mean over columns of each column's AUC (jigsaw, plant pathology, RANZCR)."""
    truth, score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    return float(np.mean([roc_auc(truth[:, j], score[:, j]) for j in range(truth.shape[1])]))


def log_loss(y_true: Array, y_prob: np.ndarray, labels: Sequence[object] | None = None) -> float:
    """Multi-class (or binary) log loss, as scikit-learn computes it: rows renormalised, then clipped.

    `y_prob` has one column per class in `labels` order; for binary problems it may be the
    probability of the positive class alone.
    """
    return float(skm.log_loss(np.asarray(y_true), np.asarray(y_prob, dtype=float), labels=labels))


def rmse(y_true: Array, y_pred: Array) -> float:
    truth, pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return float(np.sqrt(np.mean((truth - pred) ** 2)))


def rmsle(y_true: Array, y_pred: Array) -> float:
    """Root mean squared log error; negative predictions have no log (an invalid submission)."""
    truth, pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if (pred < 0).any():
        raise InvalidSubmissionError(f"{int((pred < 0).sum())} predictions are negative; RMSLE needs values >= 0")
    return float(np.sqrt(np.mean((np.log1p(pred) - np.log1p(truth)) ** 2)))


def mean_columnwise_rmsle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    truth, pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return float(np.mean([rmsle(truth[:, j], pred[:, j]) for j in range(truth.shape[1])]))


def quadratic_weighted_kappa(y_true: Array, y_pred: Array) -> float:
    """Cohen's kappa with quadratic weights over integer ratings."""
    return float(skm.cohen_kappa_score(np.asarray(y_true), np.asarray(y_pred), weights="quadratic"))
