"""The analyses of what each column is: its missing values (`missing`), its kind and encoding
(`encoding`), its scale (`scaling`). Every finding comes from the data alone."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LinearRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold
from technique_data import Data, Log, numeric_columns
from technique_models import SEED, make_model, predict_with

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


# --- missing values -------------------------------------------------------------------------------


def auc_strength(values: np.ndarray, labels: np.ndarray) -> float:
    """How well a numeric column separates two groups: max(AUC, 1 - AUC), 0.5 for no separation."""
    if labels.min() == labels.max() or np.nanstd(values) == 0:
        return 0.5
    auc = roc_auc_score(labels, values)
    return float(max(auc, 1 - auc))


def target_association_p(indicator: np.ndarray, y: np.ndarray, kind: str) -> float:
    """p-value of 'the target's distribution is the same whether the indicator is set or not'."""
    if indicator.min() == indicator.max():
        return 1.0
    if kind == "regression":
        return float(stats.mannwhitneyu(y[indicator], y[~indicator]).pvalue)
    table = pd.crosstab(indicator, y).to_numpy()
    return float(stats.chi2_contingency(table)[1])


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


def analyse_missing(data: Data, log: Log) -> tuple[dict[str, Any], np.ndarray | None]:
    frame = data.train
    columns = data.columns()
    with_gaps = [c for c in columns if frame[c].isna().any()]
    complete = [c for c in numeric_columns(frame, columns) if not frame[c].isna().any()]
    log("observation", {"text": "columns with missing values", "columns": with_gaps, "complete": complete})
    entries = []
    alpha = MNAR_ALPHA / max(len(with_gaps), 1)
    for column in with_gaps:
        indicator = frame[column].isna().to_numpy()
        strengths = {c: auc_strength(frame[c].to_numpy(dtype=float), indicator) for c in complete}
        best = max(strengths, key=lambda c: strengths[c]) if strengths else None
        target_p = target_association_p(indicator, data.y, data.kind)
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
    features = numeric_columns(frame, columns)
    x, x_test = frame[features].copy(), data.test[features].copy()
    for entry in entries:
        if entry["add_indicator"]:
            x[f"{entry['column']}_missing"] = x[entry["column"]].isna().astype(int)
            x_test[f"{entry['column']}_missing"] = x_test[entry["column"]].isna().astype(int)
    model = make_model(data.kind).fit(x, data.y)
    return analysis, predict_with(model, x_test, data.kind, data.metric)


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


def analyse_encoding(data: Data, log: Log) -> tuple[dict[str, Any], np.ndarray | None]:
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
    model = make_model(data.kind).fit(x, data.y)
    return analysis, predict_with(model, x_test, data.kind, data.metric)


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


# --- scaling --------------------------------------------------------------------------------------


def analyse_scaling(data: Data, log: Log) -> tuple[dict[str, Any], np.ndarray | None]:
    entries = []
    for column in numeric_columns(data.train, data.columns()):
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
