"""Recognising the task: which metric, and for each predicted column whether it is a probability,
a label or a number.

A `Head` is one thing to learn from one training column: a class probability (one output column per
class, or one for the positive class of a binary target), a class label, or a regression value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from loading import CompetitionData, NotUnderstood

Kind = Literal["proba", "label", "regression"]

PROBA_METRICS = frozenset({"auc", "logloss"})
LABEL_METRICS = frozenset({"accuracy", "f1", "qwk"})
REGRESSION_METRICS = frozenset({"rmse", "rmsle", "mae"})
#: An integer target with at most this many values is a class label unless the metric says otherwise.
MAX_LABEL_CLASSES = 50

#: (metric, pattern) in the order they are tried: specific names before the words they contain.
_METRIC_PATTERNS: list[tuple[str, str]] = [
    ("rmsle", r"rmsle|root mean squared? log(arithmic)? error|squared log(arithmic)? error|logarithmic error"),
    ("logloss", r"log[- ]?loss|logarithmic loss|cross[- ]entropy"),
    ("auc", r"\bauc\b|roc curve|\broc\b|area under"),
    ("qwk", r"kappa"),
    ("rmse", r"\brmse\b|root mean squared? error"),
    ("mae", r"\bmae\b|mean absolute error"),
    ("f1", r"\bf1\b|f-score|f1-score"),
    ("accuracy", r"accuracy"),
]


@dataclass
class Head:
    kind: Kind
    #: The training column holding what is learnt.
    label_column: str
    #: Output column -> the class whose probability it holds (proba); None for label and regression.
    outputs: dict[str, Any]
    metric: str
    classes: list[Any] = field(default_factory=list)
    log_target: bool = False
    lower: float | None = None
    upper: float | None = None

    def describe(self) -> str:
        columns = ", ".join(self.outputs)
        if self.kind == "proba":
            what = "binary probability" if len(self.outputs) == 1 else f"{len(self.classes)}-class probabilities"
        elif self.kind == "label":
            what = "binary label" if len(self.classes) == 2 else f"{len(self.classes)}-class label"
        else:
            what = "regression" + (" (log1p target)" if self.log_target else "")
        return f"{columns}: {what} from train column {self.label_column!r}, metric {self.metric}"


def _evaluation_text(description: str) -> str:
    """The description's evaluation section when it has one (metric words elsewhere mislead)."""
    match = re.search(r"^#+\s*(evaluation|metric)[^\n]*\n(.*?)(?=^#+\s|\Z)", description, re.I | re.M | re.S)
    return match.group(2) if match else description


def detect_metric(description: str) -> str | None:
    text = _evaluation_text(description).lower()
    for metric, pattern in _METRIC_PATTERNS:
        if re.search(pattern, text):
            return metric
    return None


def _is_fractional(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    return bool(len(numbers)) and bool(np.any(numbers != np.round(numbers)))


def positive_class(classes: list[Any]) -> Any:
    for value in classes:
        if value is True or (isinstance(value, int | np.integer) and value == 1):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "y", "positive", "pos"}:
            return value
    return sorted(classes, key=str)[-1]


def _classes(y: pd.Series) -> list[Any]:
    values = y.dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _head_for(output: str, column: str, y: pd.Series, sample_values: pd.Series, metric: str | None, text: str) -> Head:
    y = y.dropna()
    if y.nunique() < 2:
        raise NotUnderstood(f"training column {column!r} has fewer than two distinct values")
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    wants_probability = (
        metric in PROBA_METRICS
        or metric in REGRESSION_METRICS
        or _is_fractional(sample_values)
        or (metric is None and "probabilit" in text)
    )
    if pd.api.types.is_bool_dtype(y) or y.nunique() == 2:
        classes = _classes(y)
        if metric not in LABEL_METRICS and wants_probability:
            return Head("proba", column, {output: positive_class(classes)}, metric or "auc", classes)
        return Head("label", column, {output: None}, metric or "accuracy", classes)
    if not numeric:
        return Head("label", column, {output: None}, metric if metric in LABEL_METRICS else "accuracy", _classes(y))
    values = y.to_numpy(dtype=float)
    integral = bool(np.all(values == np.round(values)))
    if (
        integral
        and y.nunique() <= MAX_LABEL_CLASSES
        and metric not in REGRESSION_METRICS
        and not _is_fractional(sample_values)
    ):
        return Head("label", column, {output: None}, metric if metric in LABEL_METRICS else "accuracy", _classes(y))
    chosen = metric if metric in REGRESSION_METRICS else "rmse"
    return Head(
        "regression",
        column,
        {output: None},
        chosen,
        log_target=chosen == "rmsle" and float(values.min()) > -1.0,
        lower=float(values.min()),
        upper=float(values.max()),
    )


def recognise(data: CompetitionData) -> list[Head]:
    metric = detect_metric(data.description)
    text = data.description.lower()
    train_columns = {str(c).lower(): str(c) for c in data.train.columns}
    missing = [t for t in data.targets if t.lower() not in train_columns]
    if missing and len(missing) == len(data.targets) and len(data.targets) >= 2:
        # One output column per class, named after the values of one training column (e.g. `author`).
        wanted = set(data.targets)
        for column in data.train.columns:
            series = data.train[column]
            if pd.api.types.is_float_dtype(series) or series.nunique() > 10 * len(wanted):
                continue
            classes = _classes(series)
            by_text = {str(v): v for v in classes}
            if wanted <= set(by_text):
                outputs = {t: by_text[t] for t in data.targets}
                chosen = metric if metric in PROBA_METRICS else "logloss"
                return [Head("proba", str(column), outputs, chosen, classes)]
        raise NotUnderstood(f"the predicted columns {data.targets} are neither training columns nor classes of one")
    if missing:
        raise NotUnderstood(f"the predicted columns {missing} are not in the training table")
    return [
        _head_for(t, train_columns[t.lower()], data.train[train_columns[t.lower()]], data.sample[t], metric, text)
        for t in data.targets
    ]
