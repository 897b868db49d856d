"""From recognised heads to test predictions: features, then one model selection per head."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from features import FeatureBuilder
from loading import CompetitionData, NotUnderstood
from models import Matrices, Outcome, select_and_predict
from task import Head

#: Probabilities are kept this far from 0 and 1: one confident mistake must not cost an infinite log loss.
PROBABILITY_FLOOR = 1e-6


@dataclass
class Solution:
    #: Output column -> one value per test row, in the test table's order.
    predictions: dict[str, np.ndarray]
    outcomes: list[tuple[Head, Outcome]] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)


def _text_like(series: pd.Series) -> bool:
    strings = series.dropna().astype(str)
    return len(strings) > 0 and strings.str.len().mean() >= 20 and (strings.str.count(r"\s+") + 1).mean() >= 3


def feature_columns(data: CompetitionData, heads: list[Head]) -> list[str]:
    """Columns known for both train and test rows, without what is predicted; the id only when it
    is itself the text to read (a comment identified by its words)."""
    labels = {h.label_column for h in heads}
    train_columns = {str(c) for c in data.train.columns}
    columns = [str(c) for c in data.test.columns if str(c) in train_columns and str(c) not in labels]
    if data.test_id_column in columns and not _text_like(data.test[data.test_id_column]):
        columns.remove(data.test_id_column)
    return columns


def _targets(head: Head, values: pd.Series) -> np.ndarray:
    if head.kind == "regression":
        y = values.to_numpy(dtype=float)
        return np.asarray(np.log1p(np.clip(y, -0.999999, None))) if head.log_target else y
    index = {cls: i for i, cls in enumerate(head.classes)}
    return np.asarray(values.map(index).to_numpy(dtype=np.int64))


def _outputs(head: Head, prediction: np.ndarray) -> dict[str, np.ndarray]:
    if head.kind == "regression":
        values = np.expm1(prediction) if head.log_target else prediction
        return {column: np.clip(values, head.lower, head.upper) for column in head.outputs}
    if head.kind == "label":
        labels = np.asarray(head.classes, dtype=object)[prediction.argmax(axis=1)]
        return {column: labels for column in head.outputs}
    probs = np.clip(prediction, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    index = [head.classes.index(cls) for cls in head.outputs.values()]
    chosen = probs[:, index]
    if len(index) > 1:
        chosen = chosen / chosen.sum(axis=1, keepdims=True)
    return {column: chosen[:, i] for i, column in enumerate(head.outputs)}


def solve(
    data: CompetitionData,
    heads: list[Head],
    *,
    threads: int,
    seconds_left: Callable[[], float],
    on_head: Callable[[Head, Outcome], None] | None = None,
) -> Solution:
    columns = feature_columns(data, heads)
    if not columns:
        raise NotUnderstood("the train and test tables share no feature column")
    started = time.monotonic()
    builder = FeatureBuilder().fit(data.train, columns)
    x = Matrices(builder.dense(data.train), builder.sparse_text(data.train))
    x_test = Matrices(builder.dense(data.test), builder.sparse_text(data.test))
    # The tables' features now live in the matrices: keep only the labels (memory is the limit on big data).
    labels = data.train[list(dict.fromkeys(h.label_column for h in heads))].copy()
    data.train, data.test = labels, data.test.iloc[:, :0]
    solution = Solution(
        predictions={}, features={**builder.describe(), "seconds": round(time.monotonic() - started, 2)}
    )
    for position, head in enumerate(heads):
        known = labels[head.label_column].notna().to_numpy()
        y = _targets(head, labels.loc[known, head.label_column])
        heads_left = len(heads) - position

        def head_seconds_left(heads_left: int = heads_left) -> float:
            # This head's fair share of what remains.
            return seconds_left() / heads_left

        rows = x if known.all() else x.rows(np.flatnonzero(known))
        prediction, outcome = select_and_predict(head, rows, y, x_test, threads=threads, seconds_left=head_seconds_left)
        solution.predictions.update(_outputs(head, prediction))
        solution.outcomes.append((head, outcome))
        if on_head is not None:
            on_head(head, outcome)
    return solution
