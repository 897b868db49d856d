"""Modelling for the technique analyses: a small gradient-boosted model, cross-validation, folds.

The model is deliberately smaller than the competition path's candidates (`models.py`): an analysis
compares variants of one model (with and without class weights, validation schemes), so it needs a
fast one that takes class weights, not the best one.
"""

from __future__ import annotations

from typing import Any

import metrics
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from technique_data import Data

SEED = 0


#: Analyses name the ROC AUC as the technique tasks' descriptions do; `metrics` calls it auc.
_METRIC_NAMES = {"roc_auc": "auc"}


def make_model(kind: str, *, balanced: bool = False) -> Any:
    if kind == "regression":
        return HistGradientBoostingRegressor(max_iter=60, learning_rate=0.15, max_leaf_nodes=15, random_state=SEED)
    return HistGradientBoostingClassifier(
        max_iter=60,
        learning_rate=0.15,
        max_leaf_nodes=15,
        random_state=SEED,
        class_weight="balanced" if balanced else None,
    )


def predict_with(model: Any, x: pd.DataFrame, kind: str, metric: str | None) -> np.ndarray:
    if kind == "binary" and metric in ("roc_auc", "average_precision", None):
        return np.asarray(model.predict_proba(x)[:, 1])
    return np.asarray(model.predict(x))


def metric_score(metric: str, y: np.ndarray, predicted: np.ndarray) -> float:
    """`metric` as an analysis names it (roc_auc, average_precision, accuracy, r2), scored by `metrics`."""
    return metrics.score(_METRIC_NAMES.get(metric, metric), y, predicted)


def default_metric(kind: str) -> str:
    return {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[kind]


def cross_validate(
    x: pd.DataFrame, y: np.ndarray, kind: str, metric: str, splits: list[tuple[np.ndarray, np.ndarray]], **options: Any
) -> float:
    """The metric on out-of-fold predictions: pooled when the folds cover every row once (small folds
    make per-fold R² and AUC noisy and biased), else the mean over folds (forward-chaining splits)."""
    scores, pooled, seen = [], np.empty(len(y), dtype=float), np.zeros(len(y), dtype=int)
    for fit_at, check_at in splits:
        model = make_model(kind, **options).fit(x.iloc[fit_at], y[fit_at])
        predicted = predict_with(model, x.iloc[check_at], kind, metric)
        scores.append(metric_score(metric, y[check_at], predicted))
        pooled[check_at] = predicted
        seen[check_at] += 1
    if (seen == 1).all():
        return metric_score(metric, y, pooled)
    return float(np.mean(scores))


def cv_folds(data: Data, n_splits: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    x = np.zeros(len(data.train))
    if data.kind == "regression":
        return list(KFold(n_splits, shuffle=True, random_state=SEED).split(x))
    smallest = int(pd.Series(data.y).value_counts().min())
    return list(StratifiedKFold(min(n_splits, max(smallest, 2)), shuffle=True, random_state=SEED).split(x, data.y))


def single_feature_score(values: pd.Series, y: np.ndarray, kind: str) -> float:
    """Cross-validated score of a shallow tree on one column alone (balanced accuracy, or R² for a number)."""
    x = values.to_frame()
    if x.iloc[:, 0].isna().any():
        x = x.fillna(x.iloc[:, 0].median() if x.iloc[:, 0].notna().any() else 0.0)
    tree: Any
    if kind == "regression":
        tree = DecisionTreeRegressor(max_depth=8, min_samples_leaf=5, random_state=SEED)
        folds = KFold(3, shuffle=True, random_state=SEED)
    else:
        tree = DecisionTreeClassifier(max_depth=8, min_samples_leaf=5, random_state=SEED)
        folds = StratifiedKFold(3, shuffle=True, random_state=SEED)
    scores = []
    for fit_at, check_at in folds.split(x, y if kind != "regression" else None):
        tree.fit(x.iloc[fit_at], y[fit_at])
        predicted = tree.predict(x.iloc[check_at])
        if kind == "regression":
            scores.append(r2_score(y[check_at], predicted))
        else:
            scores.append(balanced_accuracy_score(y[check_at], predicted))
    return float(np.mean(scores))
