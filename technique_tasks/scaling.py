"""`scaling`: features on scales orders of magnitude apart, one or two of them heavily skewed.

Planted: each source feature is first mapped to normal scores (so nothing is skewed by accident),
then given its own order of magnitude, 10^k with k from -3 to 6 and at least four orders between
the smallest and the largest, and its own offset; one or two features become log-normal (heavily
right-skewed) at their scale. The analysis reports per feature its order of magnitude, whether it
is skewed and the scaler it needs; no submission is asked for (the outcome depends on the model more
than on the scaling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from technique_tasks.base import Derived, TechniqueTask
from technique_tasks.planting import provenance, random_ids, split, table
from technique_tasks.scoring import Item, by_key, choice_item, exact_item, f1_item
from technique_tasks.sources import SourceTable

EXPONENTS = tuple(range(-3, 7))
MIN_SPAN = 4
SCALERS = ("none", "standard", "minmax", "robust", "log", "log_standard", "quantile", "power")
CORRECT_SCALERS = {
    "symmetric": ("standard", "minmax", "robust"),
    # A heavy right tail needs a transform before (or instead of) rescaling.
    "skewed": ("log", "log_standard", "quantile", "power"),
}
MAGNITUDE_TOLERANCE = 1


def order_of_magnitude(values: np.ndarray) -> int:
    """round(log10(standard deviation)): the scale a feature varies on."""
    return round(float(np.log10(np.std(values[np.isfinite(values)]))))


class Scaling(TechniqueTask):
    name = "scaling"
    title = "feature scaling"
    asks_submission = False
    plants = (
        "Each feature at its own order of magnitude (10^-3 … 10^6, spanning 4+ orders) with its own offset; "
        "1-2 features log-normal (heavily skewed)."
    )
    asks = "Whether scaling is needed; per feature its order of magnitude, skewness and scaler. No submission."
    scoring = """\
- `needs_scaling` (weight 1)
- the skewed features: F1 against the planted ones (weight 1)
- per feature: the order of magnitude, round(log10(standard deviation)), within ±1 (weight 1 shared by the features)
- per feature: a fitting scaler (weight 2 shared by the features): standard, minmax or robust for a
  symmetric feature; log, log_standard, quantile or power for a skewed one"""

    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "scaling_analysis.json",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "needs_scaling": {"type": "boolean"},
                "features": {
                    "description": "One entry per feature column of train.csv.",
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["column"],
                        "properties": {
                            "column": {"type": "string"},
                            "min": {"type": "number"},
                            "max": {"type": "number"},
                            "std": {"type": "number"},
                            "order_of_magnitude": {
                                "description": "round(log10(standard deviation)) on train.csv.",
                                "type": "integer",
                            },
                            "skewed": {"type": "boolean"},
                            "scaler": {"enum": list(SCALERS)},
                        },
                    },
                },
                "notes": {"type": "string"},
            },
        }

    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        names = source.feature_names
        n = source.n_rows
        while True:
            exponents = rng.choice(EXPONENTS, size=len(names), replace=False)
            if exponents.max() - exponents.min() >= MIN_SPAN:
                break
        n_skewed = 2 if len(names) >= 6 else 1
        skewed = set(rng.choice(names, size=n_skewed, replace=False).tolist())
        columns: dict[str, np.ndarray] = {}
        for name, k in zip(names, exponents, strict=True):
            values = source.features[name].to_numpy(dtype=float)
            # Normal scores, ties broken at random: symmetric whatever the source's shape, order kept.
            ranks = np.lexsort((rng.random(n), values)).argsort()
            z = stats.norm.ppf((ranks + 0.5) / n)
            if name in skewed:
                shaped = np.exp(z * rng.uniform(0.9, 1.3))
            else:
                shaped = z + rng.uniform(-2.0, 5.0)
            columns[name] = shaped * 10.0 ** int(k)
        features = pd.DataFrame(columns)
        # Six significant digits, as a measurement would be written.
        features = features.apply(lambda c: c.map(lambda v: float(f"{v:.6g}")))
        stratify = source.target if source.kind != "regression" else None
        train_at, test_at = split(n, rng, stratify=stratify)
        ids = random_ids(n, rng)
        train = table(ids[train_at], features.iloc[train_at], source.target[train_at])
        test = table(ids[test_at], features.iloc[test_at])
        facts = {}
        for name, k in zip(names, exponents, strict=True):
            values = train[name].to_numpy(dtype=float)
            shape = "skewed" if name in skewed else "symmetric"
            facts[name] = {
                "planted_exponent": int(k),
                "order_of_magnitude": order_of_magnitude(values),
                "skewness": float(stats.skew(values)),
                "skewed": name in skewed,
                "correct_scalers": list(CORRECT_SCALERS[shape]),
            }
        planted = {"features": facts, "skewed": sorted(skewed), "needs_scaling": True}
        instructions = """\
Look at the scale and the shape of every feature. Say whether the features need rescaling before a
scale-sensitive model (linear models, k-nearest neighbours, neural networks, SVMs) sees them
(`needs_scaling`), and for every feature column give its order of magnitude (`order_of_magnitude`,
round(log10) of its standard deviation on train.csv), whether it is heavily skewed (`skewed`) and
the scaler you would apply (`scaler`)."""
        return Derived(train, test, None, planted, instructions, provenance=provenance(ids, np.arange(n)))

    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        planted = truth["planted"]
        facts: dict[str, dict[str, Any]] = planted["features"]
        reported = by_key(analysis.get("features"), "column")
        flagged = [c for c, entry in reported.items() if entry.get("skewed") is True]
        items = [
            exact_item("needs_scaling", True, analysis.get("needs_scaling"), 1.0),
            f1_item("skewed_features", planted["skewed"], flagged, 1.0),
        ]
        share = 1.0 / len(facts)
        for column, fact in facts.items():
            entry = reported.get(column, {})
            found = entry.get("order_of_magnitude")
            ok = isinstance(found, int) and abs(found - fact["order_of_magnitude"]) <= MAGNITUDE_TOLERANCE
            items.append(
                Item(
                    f"order_of_magnitude[{column}]",
                    1.0 if ok else 0.0,
                    share,
                    fact["order_of_magnitude"],
                    found,
                    f"tolerance ±{MAGNITUDE_TOLERANCE}",
                )
            )
            items.append(choice_item(f"scaler[{column}]", fact["correct_scalers"], entry.get("scaler"), 2 * share))
        return items


TASK = Scaling()
