"""`encoding`: categorical columns of low and high cardinality and an ordinal one, among numeric features.

Planted: three numeric source features become categories, each keeping the information it had —
a low-cardinality nominal column (3-6 names in no meaningful order), a high-cardinality nominal
column stored as integer codes (so it looks numeric; 40 or more levels, some only seen in test),
and an ordinal column whose level names have a natural order that follows the feature. The other
features get names of quantities, one of them an integer count with dozens of levels (numeric, though
stored like a code). The analysis
reports per column its type, cardinality and encoding (and an ordinal's order); a submission is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from technique_tasks.base import Derived, TechniqueTask
from technique_tasks.planting import answers, provenance, quantity_names, random_ids, split, table
from technique_tasks.scoring import Item, by_key, choice_item, exact_item, f1_item
from technique_tasks.sources import SourceTable

NOMINAL_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "region": ("north", "south", "east", "west", "central", "coastal"),
    "colour": ("red", "green", "blue", "amber", "violet", "grey"),
    "channel": ("web", "phone", "store", "partner", "kiosk", "mail"),
    "segment": ("alpha", "bravo", "delta", "echo", "kilo", "sierra"),
}
ORDINAL_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "size_band": ("XS", "S", "M", "L", "XL"),
    "rating": ("poor", "fair", "good", "very good", "excellent"),
    "priority": ("lowest", "low", "medium", "high", "highest"),
    "frequency_band": ("never", "rarely", "sometimes", "often", "always"),
}
HIGH_CARDINALITY_NAMES = ("store_id", "merchant_code", "branch_number", "postcode_area")
#: Integer quantities: many levels, stored like codes, but counts (numeric).
COUNT_NAMES = ("visits_last_year", "items_per_order", "logins_per_month", "calls_last_quarter")
#: Rows per level of the high-cardinality column, on average; at least MIN_HIGH_LEVELS levels.
ROWS_PER_HIGH_LEVEL = 8
MIN_HIGH_LEVELS = 40
MAX_HIGH_LEVELS = 300
#: Share of test rows whose high-cardinality level is new (never seen in train).
NEW_LEVEL_SHARE = 0.05

TYPES = ("numeric", "nominal", "ordinal", "identifier", "text", "datetime")
ENCODINGS = ("none", "one_hot", "ordinal", "target", "frequency", "hashing", "embedding", "drop")
CORRECT_ENCODINGS = {
    "numeric": ("none",),
    "nominal_low": ("one_hot", "target"),
    # One-hot of hundreds of sparse levels overfits and breaks on unseen ones; codes as numbers are arbitrary.
    "nominal_high": ("target", "frequency", "hashing", "embedding"),
    "ordinal": ("ordinal",),
}


def _rank_bins(values: np.ndarray, n_bins: int, rng: np.random.Generator) -> np.ndarray:
    """Equal-count bins of the values' ranks (ties broken at random): level 0 holds the lowest values."""
    order = np.lexsort((rng.random(len(values)), values))
    bins = np.empty(len(values), dtype=int)
    bins[order] = np.arange(len(values)) * n_bins // len(values)
    return bins


class Encoding(TechniqueTask):
    name = "encoding"
    title = "categorical encoding"
    plants = (
        "A low-cardinality nominal column (3-6 names), a high-cardinality nominal column stored as integer codes "
        "(40+ levels, some unseen in train), an ordinal column with ordered level names."
    )
    asks = "Per column: type, cardinality, encoding, and an ordinal's level order; a submission."
    scoring = """\
- which columns are categorical: F1 of the columns typed nominal or ordinal against the planted ones (weight 1)
- per planted column: the type (weight 1), the exact train cardinality (weight 0.5) and a fitting
  encoding (weight 1): low-cardinality nominal one_hot or target; high-cardinality nominal target,
  frequency, hashing or embedding; ordinal ordinal
- the ordinal column's levels in their natural order, either direction (weight 1)
- the numeric columns typed numeric (weight 0.5, the share of them)"""

    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "encoding_analysis.json",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "features": {
                    "description": "One entry per column of train.csv other than id and target.",
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["column"],
                        "properties": {
                            "column": {"type": "string"},
                            "type": {"enum": list(TYPES)},
                            "cardinality": {
                                "description": "Distinct values in train.csv.",
                                "type": "integer",
                                "minimum": 0,
                            },
                            "encoding": {"enum": list(ENCODINGS)},
                            "order": {
                                "description": "For an ordinal column: its levels from lowest to highest.",
                                "type": "array",
                                "items": {"type": "string"},
                            },
                            "rationale": {"type": "string"},
                        },
                    },
                },
                "notes": {"type": "string"},
            },
        }

    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        features = source.features.copy()
        names = list(features.columns)
        high_from, low_from, ordinal_from = (str(c) for c in rng.choice(names, size=3, replace=False))
        n = len(features)
        n_high = int(np.clip(n // ROWS_PER_HIGH_LEVEL, MIN_HIGH_LEVELS, MAX_HIGH_LEVELS))
        n_low = int(rng.integers(3, 7))
        nominal_name = str(rng.choice(sorted(NOMINAL_VOCABULARIES)))
        ordinal_name = str(rng.choice(sorted(ORDINAL_VOCABULARIES)))
        high_name = str(rng.choice(HIGH_CARDINALITY_NAMES))
        # Level names drawn in random order: the nominal names carry no order of the feature.
        nominal_levels = list(rng.choice(NOMINAL_VOCABULARIES[nominal_name], size=n_low, replace=False))
        ordinal_levels = list(ORDINAL_VOCABULARIES[ordinal_name])
        codes = rng.choice(np.arange(1000, 100_000), size=n_high, replace=False)
        high = codes[_rank_bins(features[high_from].to_numpy(), n_high, rng)]
        low = np.array(nominal_levels, dtype=object)[_rank_bins(features[low_from].to_numpy(), n_low, rng)]
        ordinal = np.array(ordinal_levels, dtype=object)[_rank_bins(features[ordinal_from].to_numpy(), 5, rng)]
        kept = [c for c in names if c not in (high_from, low_from, ordinal_from)]
        # The numeric features get names of quantities, so the categorical columns do not stand out as
        # the only named ones; one becomes a count (integers over a few dozen levels) that is a quantity.
        renamed = quantity_names(kept, rng)
        derived = features[kept].rename(columns=renamed)
        count_from = str(rng.choice(kept))
        count_name = str(rng.choice(COUNT_NAMES))
        n_counts = int(rng.integers(40, 121))
        derived = derived.drop(columns=[renamed[count_from]])
        derived[count_name] = int(rng.integers(0, 10)) + _rank_bins(features[count_from].to_numpy(), n_counts, rng)
        numeric = {renamed[c]: c for c in kept if c != count_from} | {count_name: count_from}
        derived = derived[list(numeric)]
        inserted = {high_name: high, nominal_name: low, ordinal_name: ordinal}
        # The categorical columns sit among the numeric ones at random places.
        for column, values in inserted.items():
            derived.insert(int(rng.integers(0, derived.shape[1] + 1)), column, values)
        stratify = source.target if source.kind != "regression" else None
        train_at, test_at = split(n, rng, stratify=stratify)
        ids = random_ids(n, rng)
        # Some test rows come from new stores, merchants …: codes never seen in train.
        fresh = test_at[rng.random(len(test_at)) < NEW_LEVEL_SHARE]
        unused = np.setdiff1d(np.arange(1000, 100_000), codes)
        new_codes = rng.choice(unused, size=max(len(fresh) // 2, 1), replace=False)
        derived.loc[fresh, high_name] = rng.choice(new_codes, size=len(fresh))
        train = table(ids[train_at], derived.iloc[train_at], source.target[train_at])
        test = table(ids[test_at], derived.iloc[test_at])
        columns: dict[str, dict[str, Any]] = {
            c: {
                "type": "numeric",
                "kind": "numeric",
                "from_feature": source_feature,
                "integer_count": c == count_name,
                "correct_encodings": list(CORRECT_ENCODINGS["numeric"]),
            }
            for c, source_feature in numeric.items()
        }
        columns[high_name] = {"type": "nominal", "kind": "nominal_high", "from_feature": high_from}
        columns[nominal_name] = {"type": "nominal", "kind": "nominal_low", "from_feature": low_from}
        columns[ordinal_name] = {"type": "ordinal", "kind": "ordinal", "from_feature": ordinal_from}
        columns[ordinal_name]["order"] = ordinal_levels
        for column in inserted:
            columns[column]["correct_encodings"] = list(CORRECT_ENCODINGS[columns[column]["kind"]])
            columns[column]["cardinality"] = int(train[column].nunique())
            columns[column]["unseen_in_train"] = int((~test[column].isin(set(train[column]))).sum())
        planted = {"columns": dict(sorted(columns.items())), "categorical": sorted(inserted)}
        instructions = """\
For every column of train.csv other than `id` and `target`, say what type of variable it is
(`type`: numeric, nominal or ordinal, or identifier, text, datetime), how many distinct values it has
in train.csv (`cardinality`), and how you would encode it for a model (`encoding`). For an ordinal
column, list its levels from lowest to highest (`order`). Look beyond the storage type: a column of
integers is not necessarily a quantity. Then predict `target` for every test row."""
        return Derived(
            train,
            test,
            answers(ids[test_at], source.target[test_at]),
            planted,
            instructions,
            provenance=provenance(ids, np.arange(n)),
        )

    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        planted: dict[str, dict[str, Any]] = truth["planted"]["columns"]
        reported = by_key(analysis.get("features"), "column")
        categorical = [c for c, fact in planted.items() if fact["type"] != "numeric"]
        typed_categorical = [c for c, e in reported.items() if e.get("type") in ("nominal", "ordinal")]
        items = [f1_item("categorical_columns", categorical, typed_categorical, 1.0)]
        for column in categorical:
            fact, entry = planted[column], reported.get(column, {})
            items.append(choice_item(f"type[{column}]", [fact["type"]], entry.get("type"), 1.0))
            items.append(exact_item(f"cardinality[{column}]", fact["cardinality"], entry.get("cardinality"), 0.5))
            items.append(
                choice_item(f"encoding[{column}]", fact["correct_encodings"], entry.get("encoding"), 1.0, fact["kind"])
            )
            if fact["type"] == "ordinal":
                order = entry.get("order")
                found = [str(v).strip() for v in order] if isinstance(order, list) else None
                ok = found is not None and found in (fact["order"], fact["order"][::-1])
                items.append(
                    Item(f"order[{column}]", 1.0 if ok else 0.0, 1.0, fact["order"], found, "either direction")
                )
        numeric = [c for c, fact in planted.items() if fact["type"] == "numeric"]
        right = [c for c in numeric if reported.get(c, {}).get("type") == "numeric"]
        items.append(Item("numeric_columns", len(right) / len(numeric) if numeric else 1.0, 0.5, numeric, right))
        return items


TASK = Encoding()
