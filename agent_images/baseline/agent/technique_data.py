"""A technique task's files: train, test and sample read into `Data`, and the submission written back.

Reading and writing go through the agent's own `loading` and `submission` modules; what is particular
to a technique task is that its target is the one train column the test table lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from loading import find_sample, find_table, read_description, read_ids, read_table
from submission import write_like_sample

#: Where an analysis records what it found: `log(kind, payload)` appends one rollout event.
Log = Callable[[str, dict[str, Any]], None]


@dataclass
class Data:
    train: pd.DataFrame
    test: pd.DataFrame
    id_column: str
    target: str
    #: binary, multiclass or regression, from the target's values.
    kind: str
    #: The submission's metric as the description names it (roc_auc, average_precision, accuracy, r2), if any.
    metric: str | None
    #: The sample submission read as text (ids written back unchanged), when the task gives one.
    sample: pd.DataFrame | None
    #: The test rows' ids as the test file writes them, in its row order.
    test_ids: pd.Series

    @property
    def y(self) -> np.ndarray:
        return self.train[self.target].to_numpy()

    def columns(self) -> list[str]:
        """The columns both tables share, the id aside."""
        return [c for c in self.test.columns if c != self.id_column and c in self.train.columns]


def _metric_from(description: str) -> str | None:
    text = description.lower()
    match = re.search(r"scored by ([^.\n]*)", text)
    said = match.group(1) if match else ""
    for needle, metric in (
        ("average precision", "average_precision"),
        ("roc auc", "roc_auc"),
        ("accuracy", "accuracy"),
        ("r²", "r2"),
        ("coefficient of determination", "r2"),
    ):
        if needle in said:
            return metric
    return None


def load(data_dir: Path) -> Data:
    train_file, test_file = find_table(data_dir, "train"), find_table(data_dir, "test")
    if train_file is None or test_file is None:
        raise ValueError(f"no train and test tables in {data_dir} (found train={train_file}, test={test_file})")
    # pandas' own dtypes: the analyses report exact statistics of the columns as written.
    train, _ = read_table(train_file, shrink=False)
    test, _ = read_table(test_file, shrink=False)
    try:
        sample_path: Path | None = find_sample(data_dir)
    except FileNotFoundError:
        sample_path = None  # a task that asks for no submission gives no sample
    sample = pd.read_csv(sample_path, dtype=str, keep_default_na=False) if sample_path is not None else None
    missing_from_test = [c for c in train.columns if c not in test.columns]
    if len(missing_from_test) != 1:
        raise ValueError(f"expected exactly one target column (in train, not in test); found {missing_from_test}")
    target = missing_from_test[0]
    id_column = sample.columns[0] if sample is not None else ("id" if "id" in test.columns else test.columns[0])
    y = train[target]
    values = y.dropna().unique()
    integral = pd.api.types.is_integer_dtype(y) or np.all(np.mod(values.astype(float), 1) == 0)
    if len(values) == 2:
        kind = "binary"
    elif integral and len(values) <= 30:
        kind = "multiclass"
    else:
        kind = "regression"
    test_ids = read_ids(test_file, id_column, test)
    return Data(train, test, id_column, target, kind, _metric_from(read_description(data_dir)), sample, test_ids)


def numeric_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]


def write_submission(data: Data, predictions: np.ndarray, submission_dir: Path, log: Log) -> None:
    if data.sample is None:
        return
    path = submission_dir / "submission.csv"
    written = write_like_sample(data.sample, data.id_column, data.test_ids, {data.target: predictions}, path)
    log("result", {"text": f"wrote {path.name}", "rows": written["rows"]})
