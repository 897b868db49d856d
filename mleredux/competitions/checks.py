"""Value rules competitions share; each raises InvalidSubmissionError naming the column and the count."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mleredux.errors import InvalidSubmissionError

#: How far a row of probabilities may sum from 1 (MLE-bench's tolerance).
ROW_SUM_TOLERANCE = 1e-6


def check_probabilities(frame: pd.DataFrame, columns: Sequence[str], *, rows_sum_to_one: bool = False) -> None:
    """Every value in [0, 1]; optionally each row summing to 1."""
    for column in columns:
        values = frame[column].to_numpy(dtype=float)
        outside = int(((values < 0) | (values > 1)).sum())
        if outside:
            raise InvalidSubmissionError(
                f"column {column!r} has {outside} values outside [0, 1]; probabilities are expected"
            )
    if rows_sum_to_one:
        sums = frame[list(columns)].to_numpy(dtype=float).sum(axis=1)
        bad = ~np.isclose(sums, 1.0, atol=ROW_SUM_TOLERANCE)
        if bad.any():
            raise InvalidSubmissionError(
                f"{int(bad.sum())} rows have probabilities that do not sum to 1 (e.g. {float(sums[bad][0]):.6g})"
            )


def check_allowed_values(frame: pd.DataFrame, column: str, allowed: Iterable[object]) -> None:
    """Every value of `column` is one of `allowed` (class labels, ratings)."""
    allowed_set = set(allowed)
    bad = frame.loc[~frame[column].isin(allowed_set), column]
    if len(bad):
        shown = ", ".join(repr(v) for v in bad.unique()[:5])
        raise InvalidSubmissionError(
            f"column {column!r} has {len(bad)} values that are not allowed (e.g. {shown}); "
            f"allowed: {sorted(allowed_set, key=str)}"
        )


def check_non_negative(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        negative = int((frame[column].to_numpy(dtype=float) < 0).sum())
        if negative:
            raise InvalidSubmissionError(f"column {column!r} has {negative} negative values")
