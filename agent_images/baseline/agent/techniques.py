"""The baseline agent's technique-task analyses: what a careful data scientist checks, done in code.

`run(task, data_dir, submission_dir, logs_dir)` reads the task's public files, analyses them for the
task's concern, writes `<task>_analysis.json` (and `submission.csv` when the task gives a sample
submission) into the submission dir, and appends rollout events to `<logs_dir>/rollout.jsonl`.

Every finding comes from the data alone — counts, missingness tests, cardinalities, train/test
comparisons, single-feature predictors, duplicate matching — never from how the task was built.
It runs inside the agent container: it imports pandas, numpy, scipy and scikit-learn, nothing of
the project's own code.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, average_precision_score, balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

TASKS = ("imbalance", "missing", "encoding", "cv", "scaling", "leakage")
SEED = 0

# Ordered vocabularies an analyst recognises on sight (sizes, ratings, Likert and frequency scales,
# intensities). A categorical column whose levels all belong to one of them is ordinal.
ORDINAL_SCALES: tuple[tuple[str, ...], ...] = (
    ("xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl"),
    ("extra small", "small", "medium", "large", "extra large"),
    ("tiny", "small", "medium", "large", "huge"),
    ("very poor", "poor", "fair", "average", "good", "very good", "excellent"),
    ("bad", "poor", "fair", "ok", "good", "great", "excellent"),
    ("never", "rarely", "seldom", "sometimes", "occasionally", "often", "usually", "always"),
    ("strongly disagree", "disagree", "neutral", "agree", "strongly agree"),
    ("lowest", "very low", "low", "medium low", "medium", "moderate", "medium high", "high", "very high", "highest"),
    ("none", "mild", "moderate", "severe", "critical"),
    ("cold", "cool", "warm", "hot"),
    ("primary", "secondary", "tertiary"),
    ("bronze", "silver", "gold", "platinum"),
    ("junior", "mid", "senior", "lead", "principal"),
)
#: Column-name words that say "this number is a code, not a quantity".
CODE_NAME = re.compile(r"(^|_)(id|code|number|no|zip|postcode|area|key)($|_)")


# --- rollout --------------------------------------------------------------------------------------


class _Rollout:
    """Appends `{"step", "kind", "payload"}` lines, continuing the step count of what is already there."""

    def __init__(self, logs_dir: Path) -> None:
        self.path = logs_dir / "rollout.jsonl"
        try:
            self.step = sum(1 for _ in open(self.path, encoding="utf-8")) if self.path.is_file() else 0
        except OSError:
            self.step = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.step += 1
        line = json.dumps({"step": self.step, "kind": kind, "payload": payload}, default=_jsonable) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            print(f"techniques: cannot append to {self.path}: {exc}", flush=True)
        print(f"techniques: [{kind}] {json.dumps(payload, default=_jsonable)[:300]}", flush=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# --- the data -------------------------------------------------------------------------------------


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
    sample: pd.DataFrame | None

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
    train = pd.read_csv(data_dir / "train.csv")
    test = pd.read_csv(data_dir / "test.csv")
    sample_path = data_dir / "sample_submission.csv"
    sample = pd.read_csv(sample_path) if sample_path.is_file() else None
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
    description = (data_dir / "description.md").read_text() if (data_dir / "description.md").is_file() else ""
    return Data(train, test, id_column, target, kind, _metric_from(description), sample)


# --- models ---------------------------------------------------------------------------------------


def _model(kind: str, *, balanced: bool = False) -> Any:
    if kind == "regression":
        return HistGradientBoostingRegressor(max_iter=60, learning_rate=0.15, max_leaf_nodes=15, random_state=SEED)
    return HistGradientBoostingClassifier(
        max_iter=60,
        learning_rate=0.15,
        max_leaf_nodes=15,
        random_state=SEED,
        class_weight="balanced" if balanced else None,
    )


def _predict(model: Any, x: pd.DataFrame, kind: str, metric: str | None) -> np.ndarray:
    if kind == "binary" and metric in ("roc_auc", "average_precision", None):
        return np.asarray(model.predict_proba(x)[:, 1])
    return np.asarray(model.predict(x))


def _score(metric: str, y: np.ndarray, predicted: np.ndarray) -> float:
    if metric == "roc_auc":
        return float(roc_auc_score(y, predicted))
    if metric == "average_precision":
        return float(average_precision_score(y, predicted))
    if metric == "accuracy":
        return float(accuracy_score(y, predicted))
    return float(r2_score(y, predicted))


def _default_metric(kind: str) -> str:
    return {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[kind]


def cross_validate(
    x: pd.DataFrame, y: np.ndarray, kind: str, metric: str, splits: list[tuple[np.ndarray, np.ndarray]], **options: Any
) -> float:
    """The metric on out-of-fold predictions: pooled when the folds cover every row once (small folds
    make per-fold R² and AUC noisy and biased), else the mean over folds (forward-chaining splits)."""
    scores, pooled, seen = [], np.empty(len(y), dtype=float), np.zeros(len(y), dtype=int)
    for fit_at, check_at in splits:
        model = _model(kind, **options).fit(x.iloc[fit_at], y[fit_at])
        predicted = _predict(model, x.iloc[check_at], kind, metric)
        scores.append(_score(metric, y[check_at], predicted))
        pooled[check_at] = predicted
        seen[check_at] += 1
    if (seen == 1).all():
        return _score(metric, y, pooled)
    return float(np.mean(scores))


def _folds(data: Data, n_splits: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    x = np.zeros(len(data.train))
    if data.kind == "regression":
        return list(KFold(n_splits, shuffle=True, random_state=SEED).split(x))
    smallest = int(pd.Series(data.y).value_counts().min())
    return list(StratifiedKFold(min(n_splits, max(smallest, 2)), shuffle=True, random_state=SEED).split(x, data.y))


def write_submission(data: Data, predictions: np.ndarray, submission_dir: Path, log: _Rollout) -> None:
    if data.sample is None:
        return
    frame = pd.DataFrame({data.id_column: data.test[data.id_column].to_numpy(), data.target: predictions})
    if data.kind == "multiclass":
        frame[data.target] = frame[data.target].astype(int)
    path = submission_dir / "submission.csv"
    frame.to_csv(path, index=False)
    log("result", {"text": f"wrote {path.name}", "rows": len(frame)})


# --- helpers of the analyses ----------------------------------------------------------------------


def _auc_strength(values: np.ndarray, labels: np.ndarray) -> float:
    """How well a numeric column separates two groups: max(AUC, 1 - AUC), 0.5 for no separation."""
    if labels.min() == labels.max() or np.nanstd(values) == 0:
        return 0.5
    auc = roc_auc_score(labels, values)
    return float(max(auc, 1 - auc))


def _target_association_p(indicator: np.ndarray, y: np.ndarray, kind: str) -> float:
    """p-value of 'the target's distribution is the same whether the indicator is set or not'."""
    if indicator.min() == indicator.max():
        return 1.0
    if kind == "regression":
        return float(stats.mannwhitneyu(y[indicator], y[~indicator]).pvalue)
    table = pd.crosstab(indicator, y).to_numpy()
    return float(stats.chi2_contingency(table)[1])


def _numeric(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]


def _single_feature_score(values: pd.Series, y: np.ndarray, kind: str) -> float:
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


# --- imbalance ------------------------------------------------------------------------------------


def analyse_imbalance(data: Data, log: _Rollout) -> tuple[dict[str, Any], np.ndarray | None]:
    counts = data.train[data.target].value_counts()
    shares = counts / counts.sum()
    minority = counts.idxmin()
    log("observation", {"text": "class counts in train", "counts": {str(k): int(v) for k, v in counts.items()}})
    imbalanced = bool(shares.min() < 0.2)
    metric = "average_precision" if data.kind == "binary" else "balanced_accuracy"
    folds = _folds(data)
    x = data.train[_numeric(data.train, data.columns())]
    plain = cross_validate(x, data.y, data.kind, data.metric or "average_precision", folds)
    weighted = cross_validate(x, data.y, data.kind, data.metric or "average_precision", folds, balanced=True)
    log("metric", {"text": "stratified 5-fold CV", "plain": plain, "class_weight_balanced": weighted})
    analysis = {
        "target_column": data.target,
        "class_counts": {str(k): int(v) for k, v in counts.items()},
        "minority_class": str(minority),
        "minority_share": float(shares.min()),
        "is_imbalanced": imbalanced,
        "strategy": "class_weight" if imbalanced else "none",
        "metric": metric if imbalanced else "accuracy",
        "validation": "stratified_kfold",
        "rationale": (
            f"the minority class {minority} is {shares.min():.1%} of train rows; accuracy would reward predicting "
            f"the majority, so models are weighted by class and compared by {metric} over stratified folds "
            f"(CV {weighted:.3f} with class weights, {plain:.3f} without)"
        ),
    }
    model = _model(data.kind, balanced=imbalanced).fit(x, data.y)
    return analysis, _predict(model, data.test[x.columns], data.kind, data.metric)


# --- missing values -------------------------------------------------------------------------------

#: A complete column separating missing from present rows this well (AUC) explains the gaps: MAR.
MAR_AUC = 0.75
#: Significance for the MNAR tests (before a Bonferroni correction over the columns tested).
MNAR_ALPHA = 0.001


def _predicted_shift_p(frame: pd.DataFrame, column: str, complete: list[str]) -> float:
    """Do rows with a gap have different *predicted* values (from the complete columns) than the others?"""
    if not complete:
        return 1.0
    present = frame[column].notna().to_numpy()
    model = LinearRegression().fit(frame.loc[present, complete], frame.loc[present, column])
    fitted_r2 = model.score(frame.loc[present, complete], frame.loc[present, column])
    if fitted_r2 < 0.05:
        return 1.0
    predicted = model.predict(frame[complete])
    return float(stats.mannwhitneyu(predicted[~present], predicted[present]).pvalue)


def analyse_missing(data: Data, log: _Rollout) -> tuple[dict[str, Any], np.ndarray | None]:
    frame = data.train
    columns = data.columns()
    with_gaps = [c for c in columns if frame[c].isna().any()]
    complete = [c for c in _numeric(frame, columns) if not frame[c].isna().any()]
    log("observation", {"text": "columns with missing values", "columns": with_gaps, "complete": complete})
    entries = []
    alpha = MNAR_ALPHA / max(len(with_gaps), 1)
    for column in with_gaps:
        indicator = frame[column].isna().to_numpy()
        strengths = {c: _auc_strength(frame[c].to_numpy(dtype=float), indicator) for c in complete}
        best = max(strengths, key=lambda c: strengths[c]) if strengths else None
        target_p = _target_association_p(indicator, data.y, data.kind)
        shift_p = _predicted_shift_p(frame, column, complete)
        evidence = (
            f"strongest complete column {best} separates gaps with AUC {strengths.get(best, 0.5):.2f}; "
            f"target vs gap p={target_p:.2g}; predicted-value shift p={shift_p:.2g}"
        )
        if best is not None and strengths[best] >= MAR_AUC:
            mechanism, depends, imputation, indicator_flag = "MAR", [best], "iterative", False
        elif target_p < alpha or shift_p < alpha:
            mechanism, depends, imputation, indicator_flag = "MNAR", [], "median", True
        else:
            mechanism, depends, imputation, indicator_flag = "MCAR", [], "median", False
        entry = {
            "column": column,
            "missing_rate": float(indicator.mean()),
            "mechanism": mechanism,
            "depends_on": depends,
            "imputation": imputation,
            "add_indicator": indicator_flag,
            "evidence": evidence,
        }
        log("observation", {"text": f"{column}: {mechanism}", **entry})
        entries.append(entry)
    analysis = {"columns": entries, "notes": "gradient boosting handles gaps natively; indicators added for MNAR"}
    features = _numeric(frame, columns)
    x, x_test = frame[features].copy(), data.test[features].copy()
    for entry in entries:
        if entry["add_indicator"]:
            x[f"{entry['column']}_missing"] = x[entry["column"]].isna().astype(int)
            x_test[f"{entry['column']}_missing"] = x_test[entry["column"]].isna().astype(int)
    model = _model(data.kind).fit(x, data.y)
    return analysis, _predict(model, x_test, data.kind, data.metric)


# --- encoding -------------------------------------------------------------------------------------


def _ordinal_order(levels: list[str]) -> list[str] | None:
    """The levels in their natural order when they all belong to one known ordered scale."""
    lowered = {level.strip().lower(): level for level in levels}
    for scale in ORDINAL_SCALES:
        if set(lowered) <= set(scale) and len(lowered) >= 3:
            return [lowered[word] for word in scale if word in lowered]
    return None


def _oof_target_mean(codes: pd.Series, y: np.ndarray, kind: str) -> np.ndarray:
    """Out-of-fold mean target per level (per class share of the first class for many classes)."""
    target = y.astype(float) if kind != "multiclass" else (y == pd.Series(y).mode()[0]).astype(float)
    out = np.full(len(codes), float(target.mean()))
    for fit_at, check_at in KFold(5, shuffle=True, random_state=SEED).split(codes):
        means = pd.Series(target[fit_at]).groupby(codes.iloc[fit_at].to_numpy()).mean()
        out[check_at] = codes.iloc[check_at].map(means).fillna(float(target[fit_at].mean())).to_numpy()
    return out


def _looks_like_code(column: str, values: pd.Series, y: np.ndarray, kind: str) -> tuple[bool, str]:
    """Is an integer column a category in disguise? Its name, and whether its levels explain the target
    better than any smooth function of its value does."""
    distinct = values.nunique()
    if not pd.api.types.is_integer_dtype(values) or distinct < 30 or distinct > 0.5 * len(values):
        return False, "not an integer column with 30 to n/2 levels"
    named = bool(CODE_NAME.search(column.lower()))
    span = float(values.max() - values.min() + 1)
    # Quantities fill their range; codes are few values scattered over a wide one.
    sparse = span > 1000 and distinct / span < 0.2
    by_level = _oof_target_mean(values, y, kind)
    by_value = _oof_target_mean(pd.qcut(values.rank(method="first"), 10, labels=False), y, kind)
    target = y.astype(float) if kind != "multiclass" else (y == pd.Series(y).mode()[0]).astype(float)
    gain = float(np.nan_to_num(np.corrcoef(by_level, target)[0, 1] - np.corrcoef(by_value, target)[0, 1]))
    levels_explain = gain > 0.1
    signals = int(named) + int(sparse) + int(levels_explain)
    why = (
        f"named like a code: {named}; {distinct} values over a range of {span:.0f}: {sparse}; per-level target "
        f"means beat value deciles by {gain:.2f} in correlation: {levels_explain}"
    )
    return signals >= 2, why


def analyse_encoding(data: Data, log: _Rollout) -> tuple[dict[str, Any], np.ndarray | None]:
    frame = data.train
    entries = []
    for column in data.columns():
        values = frame[column]
        distinct = int(values.nunique())
        entry: dict[str, Any] = {"column": column, "cardinality": distinct}
        if not pd.api.types.is_numeric_dtype(values):
            order = _ordinal_order([str(v) for v in values.dropna().unique()])
            if order is not None:
                entry.update(type="ordinal", encoding="ordinal", order=order, rationale="levels form a known scale")
            elif distinct <= 15:
                entry.update(type="nominal", encoding="one_hot", rationale=f"{distinct} unordered names")
            else:
                entry.update(
                    type="nominal", encoding="target", rationale=f"{distinct} unordered names: too many to one-hot"
                )
        else:
            is_code, why = _looks_like_code(column, values, data.y, data.kind)
            if is_code:
                entry.update(type="nominal", encoding="target", rationale=why)
            else:
                entry.update(type="numeric", encoding="none", rationale="a quantity")
        log("observation", {"text": f"{column}: {entry['type']}", **entry})
        entries.append(entry)
    analysis = {"features": entries}
    x, x_test = _encode(data, entries)
    model = _model(data.kind).fit(x, data.y)
    return analysis, _predict(model, x_test, data.kind, data.metric)


def _encode(data: Data, entries: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features as numbers following the analysis: one-hot, ordinal ranks, out-of-fold target means."""
    x, x_test = pd.DataFrame(index=data.train.index), pd.DataFrame(index=data.test.index)
    for entry in entries:
        column, train_values, test_values = entry["column"], data.train[entry["column"]], data.test[entry["column"]]
        if entry["encoding"] == "none":
            x[column], x_test[column] = train_values, test_values
        elif entry["encoding"] == "ordinal":
            rank = {level: i for i, level in enumerate(entry["order"])}
            x[column], x_test[column] = train_values.map(rank), test_values.map(rank)
        elif entry["encoding"] == "one_hot":
            for level in train_values.dropna().unique():
                x[f"{column}={level}"] = (train_values == level).astype(int)
                x_test[f"{column}={level}"] = (test_values == level).astype(int)
        else:
            target = data.y.astype(float) if data.kind != "multiclass" else None
            if target is None:
                # Many classes: one out-of-fold share column per class.
                for label in np.unique(data.y):
                    share = (data.y == label).astype(float)
                    x[f"{column}~{label}"] = _oof_mean(train_values, share)
                    x_test[f"{column}~{label}"] = _full_mean(train_values, share, test_values)
            else:
                x[f"{column}~mean"] = _oof_mean(train_values, target)
                x_test[f"{column}~mean"] = _full_mean(train_values, target, test_values)
            frequency = train_values.value_counts(normalize=True)
            x[f"{column}~freq"] = train_values.map(frequency).fillna(0.0)
            x_test[f"{column}~freq"] = test_values.map(frequency).fillna(0.0)
    return x, x_test


def _smoothed(values: pd.Series, target: np.ndarray, prior: float, weight: float = 10.0) -> pd.Series:
    grouped = pd.DataFrame({"v": values.to_numpy(), "t": target}).groupby("v")["t"].agg(["sum", "count"])
    return (grouped["sum"] + prior * weight) / (grouped["count"] + weight)


def _oof_mean(values: pd.Series, target: np.ndarray) -> np.ndarray:
    out = np.empty(len(values))
    for fit_at, check_at in KFold(5, shuffle=True, random_state=SEED).split(values):
        prior = float(target[fit_at].mean())
        means = _smoothed(values.iloc[fit_at], target[fit_at], prior)
        out[check_at] = values.iloc[check_at].map(means).fillna(prior).to_numpy()
    return out


def _full_mean(values: pd.Series, target: np.ndarray, test_values: pd.Series) -> np.ndarray:
    prior = float(target.mean())
    return np.asarray(test_values.map(_smoothed(values, target, prior)).fillna(prior).to_numpy())


# --- validation design ----------------------------------------------------------------------------


def _as_dates(values: pd.Series) -> pd.Series | None:
    if pd.api.types.is_numeric_dtype(values):
        return None
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    return parsed if parsed.notna().mean() > 0.95 else None


def analyse_cv(data: Data, log: _Rollout) -> tuple[dict[str, Any], np.ndarray | None]:
    train, test = data.train, data.test
    time_column = group_column = None
    for column in data.columns():
        dates, test_dates = _as_dates(train[column]), _as_dates(test[column])
        if dates is not None and test_dates is not None:
            after = float((test_dates >= dates.quantile(0.95)).mean())
            log("observation", {"text": f"{column} is a date", "test_rows_after_train_95th_percentile": after})
            if after > 0.9:
                time_column = column
            continue
        if column == data.id_column or pd.api.types.is_float_dtype(train[column]):
            continue
        distinct = train[column].nunique()
        if distinct >= 0.7 * len(train) or distinct < 2:
            continue
        overlap = float(test[column].isin(set(train[column])).mean())
        rows_per_value = len(train) / distinct
        log(
            "observation",
            {
                "text": f"{column} repeats",
                "levels": int(distinct),
                "rows_per_level": rows_per_value,
                "test_overlap": overlap,
            },
        )
        if overlap < 0.05 and rows_per_value > 1.3:
            group_column = column
    if time_column is not None:
        structure, method = "temporal", "time_series_split"
    elif group_column is not None:
        structure, method = "grouped", "group_kfold"
    else:
        structure, method = "iid", "stratified_kfold" if data.kind != "regression" else "kfold"
    features = [
        c for c in _numeric(train, data.columns()) if c not in (time_column, group_column) and c != data.id_column
    ]
    metric = data.metric or _default_metric(data.kind)
    order = np.arange(len(train))
    if structure == "temporal":
        order = np.argsort(pd.to_datetime(train[time_column], format="mixed").to_numpy(), kind="stable")
        splits = [(order[a], order[b]) for a, b in TimeSeriesSplit(5).split(order)]
    elif structure == "grouped":
        splits = list(GroupKFold(5).split(train, groups=train[group_column]))
    else:
        splits = _folds(data)
    x = train[features]
    estimate = cross_validate(x, data.y, data.kind, metric, splits)
    naive = cross_validate(x, data.y, data.kind, metric, _folds(data))
    log("metric", {"text": f"{method} CV", metric: estimate, f"plain shuffled K-fold {metric}": naive})
    key = time_column or group_column
    analysis = {
        "structure": structure,
        "cv_method": method,
        "n_splits": 5,
        "group_column": group_column,
        "time_column": time_column,
        "rationale": (
            f"{key}: test rows {'come after every train date' if time_column else 'belong to entities unseen in train'}"
            f", so validation must keep {key} apart across folds; {method} estimates {estimate:.3f} where plain "
            f"shuffled K-fold claims {naive:.3f}"
            if key
            else "no grouping or time order separates test from train"
        ),
        "cv_score": estimate,
    }
    model = _model(data.kind).fit(x, data.y)
    return analysis, _predict(model, test[features], data.kind, data.metric)


# --- scaling --------------------------------------------------------------------------------------


def analyse_scaling(data: Data, log: _Rollout) -> tuple[dict[str, Any], np.ndarray | None]:
    entries = []
    for column in _numeric(data.train, data.columns()):
        values = data.train[column].dropna().to_numpy(dtype=float)
        std = float(values.std())
        skewness = float(stats.skew(values))
        skewed = abs(skewness) > 1.0
        if skewed:
            scaler = "log_standard" if values.min() > 0 else "quantile"
        else:
            scaler = "standard"
        entry = {
            "column": column,
            "min": float(values.min()),
            "max": float(values.max()),
            "std": std,
            "order_of_magnitude": round(math.log10(std)) if std > 0 else 0,
            "skewed": skewed,
            "scaler": scaler,
        }
        log("observation", {"text": f"{column}: scale 1e{entry['order_of_magnitude']}, skew {skewness:.2f}", **entry})
        entries.append(entry)
    magnitudes = [e["order_of_magnitude"] for e in entries]
    spread = max(magnitudes) - min(magnitudes) if magnitudes else 0
    analysis = {
        "needs_scaling": spread >= 2,
        "features": entries,
        "notes": f"standard deviations span {spread} orders of magnitude",
    }
    return analysis, None


# --- leakage --------------------------------------------------------------------------------------

#: A single column predicting the target this well (tree CV accuracy or R²) is too good to be honest.
NEAR_PERFECT = 0.85


def _near_perfect(score: float, values: pd.Series, y: np.ndarray, kind: str) -> bool:
    if kind == "regression":
        rho = abs(float(stats.spearmanr(values, y, nan_policy="omit").statistic))
        return score >= NEAR_PERFECT or rho >= NEAR_PERFECT
    # Balanced accuracy relative to chance (1/K), so neither many classes nor a rare one skews the bar.
    chance = 1.0 / len(np.unique(y))
    return (score - chance) / (1 - chance) >= NEAR_PERFECT


def analyse_leakage(data: Data, log: _Rollout) -> tuple[dict[str, Any], np.ndarray | None]:
    train, test = data.train, data.test
    leaks: list[dict[str, Any]] = []
    leaking: set[str] = set()
    for column in data.columns():
        train_gaps, test_gaps = float(train[column].isna().mean()), float(test[column].isna().mean())
        if test_gaps > 0.9 and train_gaps < 0.5:
            leaks.append(
                {
                    "type": "future_feature",
                    "column": column,
                    "evidence": f"filled in {1 - train_gaps:.0%} of train rows but empty in {test_gaps:.0%} of test "
                    "rows: not known at prediction time",
                    "mitigation": "drop_column",
                }
            )
            leaking.add(column)
            continue
        if not pd.api.types.is_numeric_dtype(train[column]):
            continue
        score = _single_feature_score(train[column], data.y, data.kind)
        log("observation", {"text": f"{column} alone predicts the target", "cv_score": score})
        if _near_perfect(score, train[column], data.y, data.kind):
            leaks.append(
                {
                    "type": "target_derived",
                    "column": column,
                    "evidence": f"this column alone predicts the target with CV score {score:.3f}",
                    "mitigation": "drop_column",
                }
            )
            leaking.add(column)
    ids = train[data.id_column]
    if pd.api.types.is_numeric_dtype(ids):
        score = _single_feature_score(ids, data.y, data.kind)
        rho = float(stats.spearmanr(ids, data.y).statistic)
        log("observation", {"text": "the id alone predicts the target", "cv_score": score, "spearman": rho})
        if _near_perfect(score, ids, data.y, data.kind) or abs(rho) > 0.5:
            leaks.append(
                {
                    "type": "id_encodes_label",
                    "column": data.id_column,
                    "evidence": f"train ids predict the target (CV score {score:.3f}, Spearman {rho:.2f})",
                    "mitigation": "drop_column",
                }
            )
    # The same record in both tables: equal in every column that does not leak (leaking columns hold
    # label-time values in train and prediction-time values in test, so they differ even for one record).
    shared = data.columns()
    honest_columns = [c for c in shared if c not in leaking]
    matched = train[honest_columns].merge(test[[data.id_column, *honest_columns]], on=honest_columns, how="inner")
    if len(matched):
        rows = sorted(matched[data.id_column].unique().tolist())
        leaks.append(
            {
                "type": "train_test_duplicates",
                "column": None,
                "rows": rows,
                "evidence": f"{len(rows)} test rows equal a train row in all {len(honest_columns)} non-leaking columns",
                "mitigation": "deduplicate",
            }
        )
    log(
        "observation",
        {"text": "leaks found", "leaks": [{k: v for k, v in leak.items() if k != "rows"} for leak in leaks]},
    )
    analysis = {"leaks": leaks}
    features = [c for c in _numeric(train, honest_columns)]
    # Train rows that copy a test row are left out of training, so validation on train stays honest.
    unique_test = test[honest_columns].drop_duplicates()
    flags = train[honest_columns].merge(unique_test, on=honest_columns, how="left", indicator=True)["_merge"]
    honest = train.loc[(flags != "both").to_numpy()]
    model = _model(data.kind).fit(honest[features], honest[data.target].to_numpy())
    return analysis, _predict(model, test[features], data.kind, data.metric)


ANALYSES: dict[str, Callable[[Data, _Rollout], tuple[dict[str, Any], np.ndarray | None]]] = {
    "imbalance": analyse_imbalance,
    "missing": analyse_missing,
    "encoding": analyse_encoding,
    "cv": analyse_cv,
    "scaling": analyse_scaling,
    "leakage": analyse_leakage,
}


def run(task: str, data_dir: Path, submission_dir: Path, logs_dir: Path) -> None:
    """Analyse the data for `task`, write `<task>_analysis.json` (and `submission.csv` when asked for)."""
    log = _Rollout(Path(logs_dir))
    if task not in ANALYSES:
        log("error", {"message": f"unknown technique task {task!r}; known: {', '.join(TASKS)}"})
        raise ValueError(f"unknown technique task {task!r}; known: {', '.join(TASKS)}")
    started = time.monotonic()
    data = load(Path(data_dir))
    log(
        "plan",
        {
            "text": f"technique task {task}: analyse train.csv/test.csv for it, write {task}_analysis.json"
            + (" and submission.csv" if data.sample is not None else ""),
            "rows": {"train": len(data.train), "test": len(data.test)},
            "target": data.target,
            "target_kind": data.kind,
            "metric": data.metric,
        },
    )
    analysis, predictions = ANALYSES[task](data, log)
    submission_dir = Path(submission_dir)
    submission_dir.mkdir(parents=True, exist_ok=True)
    path = submission_dir / f"{task}_analysis.json"
    path.write_text(json.dumps(analysis, indent=2, default=_jsonable) + "\n")
    log("analysis", {"file": path.name, "analysis": analysis})
    if predictions is not None:
        write_submission(data, predictions, submission_dir, log)
    log("result", {"text": f"{task} analysis done", "seconds": round(time.monotonic() - started, 2)})
