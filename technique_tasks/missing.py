"""`missing`: values removed from some columns by known mechanisms at known rates.

Planted: three or four feature columns lose values, each by one mechanism at a seeded rate —
MCAR (every row equally likely), MAR (rows are likelier to lose the value the higher, or lower,
another, fully observed column is) and MNAR (rows are likelier to lose it the higher, or lower, the
value itself is, so the gap hides its own value). The MNAR column is the one most tied to the target
and least to the other columns, which is what makes its missingness tell on the target. Test rows
lose values the same way. The analysis reports per column the rate, the mechanism (and for MAR the
driving column) and the imputation; a submission is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from technique_tasks.base import Derived, TechniqueTask
from technique_tasks.planting import (
    answers,
    calibrated_probability,
    mask_with_rate,
    provenance,
    random_ids,
    split,
    table,
)
from technique_tasks.scoring import Item, by_key, choice_item, close_item, f1_item
from technique_tasks.sources import SourceTable

MECHANISMS = ("MCAR", "MAR", "MNAR")
RATES = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
#: How sharply the probability of a gap rises with the driving value (on the standardized scale).
SLOPE = 3.0
IMPUTATIONS = (
    "drop_rows",
    "drop_column",
    "mean",
    "median",
    "mode",
    "constant",
    "knn",
    "iterative",
    "model",
)
#: MCAR: any reasonable fill is unbiased; dropping rows or the column wastes data.
CORRECT_IMPUTATION = {
    "MCAR": ("mean", "median", "knn", "iterative", "model"),
    # MAR: the fill must condition on the observed columns that drive the gaps.
    "MAR": ("knn", "iterative", "model"),
    # MNAR: any fill, as long as a missing-indicator keeps the information the gap carries.
    "MNAR": ("mean", "median", "constant", "knn", "iterative", "model"),
}
RATE_TOLERANCE = 0.02


def _link(values: np.ndarray, target: np.ndarray, classification: bool) -> float:
    """How strongly a column is tied to the target: |r|, or the correlation ratio for classes."""
    if classification:
        total = ((values - values.mean()) ** 2).sum()
        between = sum(
            (target == k).sum() * (values[target == k].mean() - values.mean()) ** 2 for k in np.unique(target)
        )
        return float(np.sqrt(between / total)) if total else 0.0
    return float(abs(np.corrcoef(values, target)[0, 1]))


class Missing(TechniqueTask):
    name = "missing"
    title = "missing values"
    plants = (
        "Gaps in 3-4 feature columns, each by MCAR, MAR (driven by another observed column) or MNAR "
        "(driven by the value itself), at seeded rates of 10-40 %."
    )
    asks = "Per column with gaps: rate, mechanism, the driving column for MAR, imputation and indicator; a submission."
    scoring = """\
- which columns have gaps: F1 of the columns reported against those with gaps (weight 1)
- per column with gaps: the rate within ±0.02 (weight 0.5), the mechanism (weight 1) and a fitting
  imputation (weight 1): MCAR any unbiased fill (mean, median, knn, iterative, model); MAR a fill
  conditioned on other columns (knn, iterative, model); MNAR any fill plus `add_indicator: true`
- per MAR column: the driving column listed in `depends_on` (weight 0.5)"""

    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "missing_analysis.json",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "columns": {
                    "description": "One entry per column of train.csv that has missing values.",
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["column"],
                        "properties": {
                            "column": {"type": "string"},
                            "missing_rate": {
                                "description": "Share of train rows where the value is missing.",
                                "type": "number",
                                "minimum": 0,
                                "maximum": 1,
                            },
                            "mechanism": {"enum": list(MECHANISMS)},
                            "depends_on": {
                                "description": "Observed columns the missingness depends on (MAR).",
                                "type": "array",
                                "items": {"type": "string"},
                            },
                            "imputation": {"enum": list(IMPUTATIONS)},
                            "add_indicator": {
                                "description": "Whether a was-missing indicator column is added.",
                                "type": "boolean",
                            },
                            "evidence": {"type": "string"},
                        },
                    },
                },
                "notes": {"type": "string"},
            },
        }

    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        features = source.features.copy()
        names = list(features.columns)
        values = {c: features[c].to_numpy(dtype=float) for c in names}
        classification = source.kind != "regression"
        corr = features.corr().abs().to_numpy(copy=True)
        np.fill_diagonal(corr, 0.0)
        # The MNAR column: tied to the target, loosely tied to the rest (so no observed column explains its gaps).
        fitness = [_link(values[c], source.target, classification) - corr[i].max() for i, c in enumerate(names)]
        mnar = names[int(np.argmax(fitness))]
        rest = [c for c in names if c != mnar]
        n_planted = 4 if len(names) >= 6 else 3
        mechanisms = ["MAR", "MCAR"] + (["MAR" if rng.random() < 0.5 else "MCAR"] if n_planted == 4 else [])
        chosen = list(rng.choice(rest, size=len(mechanisms), replace=False))
        complete = [c for c in rest if c not in chosen]
        columns: dict[str, dict[str, Any]] = {}
        masks: dict[str, np.ndarray] = {}
        for column, mechanism in [(mnar, "MNAR"), *zip(chosen, mechanisms, strict=True)]:
            rate = float(rng.choice(RATES))
            direction = "high" if rng.random() < 0.5 else "low"
            sign = 1.0 if direction == "high" else -1.0
            entry: dict[str, Any] = {"mechanism": mechanism, "planted_rate": rate}
            if mechanism == "MCAR":
                p = np.full(len(features), rate)
            elif mechanism == "MAR":
                driver = str(rng.choice(complete))
                p = calibrated_probability(sign * values[driver], rate, slope=SLOPE)
                entry.update(depends_on=[driver], direction=direction)
            else:
                p = calibrated_probability(sign * values[column], rate, slope=SLOPE)
                entry.update(direction=direction)
            masks[column] = mask_with_rate(p, rate, rng)
            columns[column] = entry
        for column, mask in masks.items():
            features.loc[mask, column] = np.nan
        stratify = source.target if classification else None
        train_at, test_at = split(len(features), rng, stratify=stratify)
        ids = random_ids(len(features), rng)
        train = table(ids[train_at], features.iloc[train_at], source.target[train_at])
        test = table(ids[test_at], features.iloc[test_at])
        for column, entry in columns.items():
            entry["missing_rate"] = float(pd.isna(train[column]).mean())
            entry["correct_imputations"] = list(CORRECT_IMPUTATION[entry["mechanism"]])
            entry["indicator_required"] = entry["mechanism"] == "MNAR"
        planted = {"columns": dict(sorted(columns.items())), "complete_columns": sorted(complete)}
        instructions = """\
Some columns have missing values. For each column of train.csv with missing values, report the share of
rows missing (`missing_rate`), the missingness mechanism you find (`mechanism`: MCAR, missing completely
at random; MAR, missing depending on other observed columns, listed in `depends_on`; MNAR, missing
depending on the unobserved value itself) and how you would fill the gaps (`imputation`, and whether
you add a was-missing indicator, `add_indicator`). Test rows have gaps of the same kinds. Then predict
`target` for every test row."""
        return Derived(
            train,
            test,
            answers(ids[test_at], source.target[test_at]),
            planted,
            instructions,
            provenance=provenance(ids, np.arange(len(ids))),
        )

    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        planted: dict[str, dict[str, Any]] = truth["planted"]["columns"]
        reported = by_key(analysis.get("columns"), "column")
        items = [f1_item("columns_with_gaps", planted, reported, 1.0)]
        for column, fact in planted.items():
            entry = reported.get(column, {})
            items.append(
                close_item(
                    f"missing_rate[{column}]",
                    fact["missing_rate"],
                    entry.get("missing_rate"),
                    0.5,
                    tolerance=RATE_TOLERANCE,
                )
            )
            items.append(choice_item(f"mechanism[{column}]", [fact["mechanism"]], entry.get("mechanism"), 1.0))
            imputation = entry.get("imputation")
            indicator = entry.get("add_indicator") is True
            ok = imputation in fact["correct_imputations"] and (indicator or not fact["indicator_required"])
            items.append(
                Item(
                    f"imputation[{column}]",
                    1.0 if ok else 0.0,
                    1.0,
                    {"imputation": fact["correct_imputations"], "add_indicator_required": fact["indicator_required"]},
                    {"imputation": imputation, "add_indicator": entry.get("add_indicator")},
                )
            )
            if fact["mechanism"] == "MAR":
                depends = entry.get("depends_on")
                found = [d.strip() for d in depends if isinstance(d, str)] if isinstance(depends, list) else []
                items.append(
                    Item(
                        f"depends_on[{column}]",
                        1.0 if set(fact["depends_on"]) <= set(found) and len(found) <= 2 else 0.0,
                        0.5,
                        fact["depends_on"],
                        found or None,
                        "the driving column, among at most two named",
                    )
                )
        return items


TASK = Missing()
