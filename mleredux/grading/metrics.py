"""The metrics Kaggle defines for the competitions we grade, on aligned arrays.

Inputs are already checked (same length, no NaN, numeric where numbers are expected); these
functions only compute. Where Kaggle's definition leaves a choice (clipping in log loss), the
choice is the one MLE-bench makes, so scores agree; see docs/grading.md for where we differ.

The ROC AUC is computed here in numpy by the same steps as scikit-learn's `roc_auc_score` (the
curve's corners, then the trapezoidal area), so the value is the same double; scikit-learn, whose
import alone costs longer than grading a large submission, is imported only by the metrics that
use it (log loss, kappa), when they are called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

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
    """Area under the ROC curve of binary labels; a single-class truth has no AUC (a grader error).

    The larger label is the positive class (1 of 0/1). Scores are ranked from the highest down;
    tied scores form one point of the curve; points collinear with their neighbours are dropped;
    the area is the trapezoidal rule over the false and true positive rates.
    """
    truth = np.asarray(y_true)
    if truth.size == 0:
        raise ValueError("AUC is undefined: there are no answers")
    # Two comparisons instead of a hash of every label (np.unique): the classes are the extremes.
    low, high = truth.min(), truth.max()
    if low == high:
        raise ValueError("AUC is undefined: the answers contain a single class")
    if not np.all((truth == low) | (truth == high)):
        raise ValueError(f"AUC needs binary labels; the answers have {np.unique(truth).size} classes")
    score = np.asarray(y_score, dtype=float)
    # Any sort will do: the curve's points are the ends of runs of tied scores, and the counts of
    # positives up to a run's end do not depend on the order within it (the default sort is
    # vectorised, several times faster than a stable one).
    order = np.argsort(score)[::-1]
    ranked, positive = score[order], truth[order] == high
    # The last row of each run of tied scores: one threshold, one point of the curve.
    ends = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps = np.cumsum(positive, dtype=np.float64)[ends]
    fps = 1 + ends - tps
    if fps.size > 2:
        corners = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[corners], tps[corners]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def mean_columnwise_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The mean over columns of each column's AUC (jigsaw, plant pathology, RANZCR)."""
    truth, score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    return float(np.mean([roc_auc(truth[:, j], score[:, j]) for j in range(truth.shape[1])]))


def log_loss(y_true: Array, y_prob: np.ndarray, labels: Sequence[object] | None = None) -> float:
    """Multi-class (or binary) log loss, as scikit-learn computes it: rows renormalised, then clipped.

    `y_prob` has one column per class in `labels` order; for binary problems it may be the
    probability of the positive class alone.
    """
    from sklearn.metrics import log_loss as sklearn_log_loss

    return float(sklearn_log_loss(np.asarray(y_true), np.asarray(y_prob, dtype=float), labels=labels))


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
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(np.asarray(y_true), np.asarray(y_pred), weights="quadratic"))
