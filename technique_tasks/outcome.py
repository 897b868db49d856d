"""The outcome half of a technique task: the submission's score on the derived test rows.

Submissions are `id,target`: a probability of class 1 (binary), a class code (multiclass) or a
number (regression). The format rules are the grader's own (ids matched as text, NaN and infinity
refused); the metric depends on the derived target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mleredux.errors import InvalidSubmissionError
from mleredux.grading.submission import SubmissionFormat, check_format

Metric = Literal["roc_auc", "average_precision", "accuracy", "r2"]

ID, TARGET = "id", "target"

METRIC_TEXT: dict[str, str] = {
    "roc_auc": "ROC AUC of the predicted probability that `target` is 1 (higher is better)",
    "average_precision": "average precision (area under the precision-recall curve) of the predicted "
    "probability that `target` is 1 (higher is better)",
    "accuracy": "accuracy of the predicted class code (higher is better)",
    "r2": "R² (coefficient of determination) of the predicted value (higher is better; 0 is a constant guess)",
}


@dataclass(frozen=True)
class SubmissionOutcome:
    """What the submission scored, when the task asks for one."""

    asked: bool
    exists: bool = False
    valid: bool = False
    invalid_reason: str | None = None
    metric: str | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_values(values: np.ndarray, metric: str, classes: list[int]) -> None:
    if metric in ("roc_auc", "average_precision"):
        outside = int(((values < 0) | (values > 1)).sum())
        if outside:
            raise InvalidSubmissionError(f"column 'target' has {outside} values outside [0, 1]; probabilities expected")
    elif metric == "accuracy":
        bad = ~np.isin(values, classes)
        if bad.any():
            shown = ", ".join(repr(v) for v in pd.unique(values[bad])[:5])
            raise InvalidSubmissionError(
                f"column 'target' has {int(bad.sum())} values that are not class codes {classes}: {shown}"
            )


def metric_value(metric: str, truth: np.ndarray, predicted: np.ndarray) -> float:
    # Imported here, not at the top: the gateway imports the task registry only to check a task's
    # name, and scikit-learn (with SciPy) was 2.3 of its 2.9 s of start-up, which a restarted gateway
    # spent before answering again. Only the grader scores.
    from sklearn import metrics as skm

    if metric == "roc_auc":
        return float(skm.roc_auc_score(truth, predicted))
    if metric == "average_precision":
        return float(skm.average_precision_score(truth, predicted))
    if metric == "accuracy":
        return float((truth == predicted).mean())
    return float(skm.r2_score(truth, predicted))


def score_submission(path: Path | None, answers_path: Path, metric: str, classes: list[int]) -> SubmissionOutcome:
    """Score `path` against the answers; a malformed file is reported invalid with its reason."""
    if path is None or not path.is_file():
        return SubmissionOutcome(asked=True, metric=metric)
    answers = pd.read_csv(answers_path, dtype={ID: str})
    numeric = frozenset({TARGET})
    expected = SubmissionFormat(ID, answers[ID], (TARGET,), numeric)
    try:
        try:
            submission = pd.read_csv(path, dtype={ID: str})
        except pd.errors.EmptyDataError:
            raise InvalidSubmissionError("the submission is empty (no header and no rows)") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidSubmissionError(f"the submission is not a readable CSV: {exc}".strip()) from None
        order = check_format(submission, expected)
        values = pd.to_numeric(submission[TARGET]).to_numpy(dtype=float)[order]
        _check_values(values, metric, classes)
    except InvalidSubmissionError as exc:
        return SubmissionOutcome(asked=True, exists=True, invalid_reason=str(exc), metric=metric)
    score = metric_value(metric, answers[TARGET].to_numpy(), values)
    return SubmissionOutcome(asked=True, exists=True, valid=True, metric=metric, score=score)
