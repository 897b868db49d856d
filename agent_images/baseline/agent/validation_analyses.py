"""The analyses of how to validate and what to trust: class imbalance (`imbalance`), the validation
design (`cv`), leakage between the target, the features and the test rows (`leakage`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import GroupKFold, TimeSeriesSplit
from technique_data import Data, Log, numeric_columns
from technique_models import cross_validate, cv_folds, default_metric, make_model, predict_with, single_feature_score

# --- imbalance ------------------------------------------------------------------------------------


def analyse_imbalance(data: Data, log: Log) -> tuple[dict[str, Any], np.ndarray | None]:
    counts = data.train[data.target].value_counts()
    shares = counts / counts.sum()
    minority = counts.idxmin()
    log("observation", {"text": "class counts in train", "counts": {str(k): int(v) for k, v in counts.items()}})
    imbalanced = bool(shares.min() < 0.2)
    metric = "average_precision" if data.kind == "binary" else "balanced_accuracy"
    folds = cv_folds(data)
    x = data.train[numeric_columns(data.train, data.columns())]
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
    model = make_model(data.kind, balanced=imbalanced).fit(x, data.y)
    return analysis, predict_with(model, data.test[x.columns], data.kind, data.metric)


# --- validation design ----------------------------------------------------------------------------


def _as_dates(values: pd.Series) -> pd.Series | None:
    if pd.api.types.is_numeric_dtype(values):
        return None
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    return parsed if parsed.notna().mean() > 0.95 else None


def analyse_cv(data: Data, log: Log) -> tuple[dict[str, Any], np.ndarray | None]:
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
        c
        for c in numeric_columns(train, data.columns())
        if c not in (time_column, group_column) and c != data.id_column
    ]
    metric = data.metric or default_metric(data.kind)
    order = np.arange(len(train))
    if structure == "temporal":
        order = np.argsort(pd.to_datetime(train[time_column], format="mixed").to_numpy(), kind="stable")
        splits = [(order[a], order[b]) for a, b in TimeSeriesSplit(5).split(order)]
    elif structure == "grouped":
        splits = list(GroupKFold(5).split(train, groups=train[group_column]))
    else:
        splits = cv_folds(data)
    x = train[features]
    estimate = cross_validate(x, data.y, data.kind, metric, splits)
    naive = cross_validate(x, data.y, data.kind, metric, cv_folds(data))
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
    model = make_model(data.kind).fit(x, data.y)
    return analysis, predict_with(model, test[features], data.kind, data.metric)


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


def analyse_leakage(data: Data, log: Log) -> tuple[dict[str, Any], np.ndarray | None]:
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
        score = single_feature_score(train[column], data.y, data.kind)
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
        score = single_feature_score(ids, data.y, data.kind)
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
    features = [c for c in numeric_columns(train, honest_columns)]
    # Train rows that copy a test row are left out of training, so validation on train stays honest.
    unique_test = test[honest_columns].drop_duplicates()
    flags = train[honest_columns].merge(unique_test, on=honest_columns, how="left", indicator=True)["_merge"]
    honest = train.loc[(flags != "both").to_numpy()]
    model = make_model(data.kind).fit(honest[features], honest[data.target].to_numpy())
    return analysis, predict_with(model, test[features], data.kind, data.metric)
