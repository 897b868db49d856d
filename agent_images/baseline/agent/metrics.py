"""Scoring a head's predictions the way the competition will, to choose between candidate models."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    cohen_kappa_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

LOWER_IS_BETTER = frozenset({"logloss", "rmse", "rmsle", "mae"})


def selection_metric(kind: str, metric: str) -> str:
    """The metric a candidate is judged by: the competition's when it fits the head's kind."""
    if kind == "proba":
        return metric if metric in {"auc", "logloss"} else "logloss"
    if kind == "label":
        return metric if metric in {"accuracy", "f1", "qwk"} else "accuracy"
    # Regression on a log1p target: RMSE in that space is the RMSLE.
    return metric if metric in {"rmse", "mae"} else "rmse"


def score(metric: str, truth: np.ndarray, prediction: np.ndarray) -> float:
    """`prediction`: class probabilities (n, k) for auc/logloss (truth as class indices), or the
    positive class's probability (n,) for auc/average_precision; labels for accuracy/f1/qwk; numbers
    for rmse/mae/r2."""
    if metric == "logloss":
        probs = np.clip(prediction, 1e-15, 1.0)
        probs = probs / probs.sum(axis=1, keepdims=True)
        return float(log_loss(truth, probs, labels=list(range(prediction.shape[1]))))
    if metric == "auc":
        present = np.unique(truth)
        if len(present) < 2:
            return 0.5
        if prediction.ndim == 1:
            return float(roc_auc_score(truth, prediction))
        if prediction.shape[1] == 2:
            return float(roc_auc_score(truth, prediction[:, 1]))
        return float(roc_auc_score(truth, prediction, multi_class="ovr", labels=list(range(prediction.shape[1]))))
    if metric == "average_precision":
        return float(average_precision_score(truth, prediction))
    if metric == "accuracy":
        return float(accuracy_score(truth, prediction))
    if metric == "f1":
        average = "binary" if len(np.unique(truth)) <= 2 else "macro"
        return float(f1_score(truth, prediction, average=average))
    if metric == "qwk":
        return float(cohen_kappa_score(truth, prediction, weights="quadratic"))
    if metric == "mae":
        return float(mean_absolute_error(truth, prediction))
    if metric == "r2":
        return float(r2_score(truth, prediction))
    return float(np.sqrt(np.mean((np.asarray(truth, dtype=float) - np.asarray(prediction, dtype=float)) ** 2)))


def better(metric: str, a: float, b: float) -> bool:
    """Whether score `a` beats score `b`."""
    return a < b if metric in LOWER_IS_BETTER else a > b
