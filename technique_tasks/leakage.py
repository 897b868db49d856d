"""`leakage`: four leaks of the kinds that inflate validation and fail in production.

Planted:
- a **target-derived** column: an affine function of the target plus a little noise in train (a
  near-perfect predictor), values that carry nothing in test (as at prediction time);
- an **id that encodes the label**: train ids increase with the target, test ids are spread at random;
- **rows duplicated across train and test**: a few test records also appear in train, label included
  (equal in every column but the id and the two leaking columns, which hold what a labelled row holds);
- a **feature from the future**: a value recorded after the outcome, tied to the target in train
  and empty in test (not yet known when predicting).
The analysis lists each leak found and its mitigation; a submission is asked for, and a model that
leans on the leaks scores poorly on the test rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from technique_tasks.base import Derived, TechniqueTask
from technique_tasks.outcome import ID
from technique_tasks.planting import answers, provenance, quantity_names, random_ids, split, standardized, table
from technique_tasks.scoring import Item, choice_item, f1_item
from technique_tasks.sources import SourceTable

LEAK_TYPES = ("target_derived", "id_encodes_label", "train_test_duplicates", "future_feature", "other")
MITIGATIONS = ("drop_column", "drop_rows", "deduplicate", "group_split", "time_split", "none")
CORRECT_MITIGATIONS = {
    "target_derived": ("drop_column",),
    "id_encodes_label": ("drop_column",),
    # Copies of test rows in train inflate validation; removing them (or keeping copies in one fold) fixes it.
    "train_test_duplicates": ("drop_rows", "deduplicate", "group_split"),
    "future_feature": ("drop_column",),
}
TARGET_DERIVED_NAMES = ("account_status_code", "review_flag_score", "adjusted_rating", "risk_code")
FUTURE_NAMES = ("followup_score", "days_to_resolution", "post_visit_rating", "final_balance")
#: Share of train rows whose target-derived value is scrambled (a real leak is rarely perfect).
SCRAMBLED_SHARE = 0.02
#: Noise of the target-derived column, as a share of its slope.
NOISE = 0.03
#: Share of test rows copied into train; at least MIN_DUPLICATES.
DUPLICATE_SHARE = 0.04
MIN_DUPLICATES = 8


def leak_key(leak_type: str, column: str | None) -> str:
    """How a leak is matched: by type and column for column leaks, by type alone for duplicated rows."""
    if leak_type == "train_test_duplicates":
        return leak_type
    if leak_type == "id_encodes_label":
        return f"{leak_type}:{column or ID}"
    return f"{leak_type}:{column}"


class Leakage(TechniqueTask):
    name = "leakage"
    title = "data leakage"
    plants = (
        "A target-derived column, train ids that increase with the target, test rows duplicated in train, "
        "a post-outcome feature that is empty in test."
    )
    asks = "Each leak (type, column or duplicated test ids, evidence) and its mitigation; a submission."
    scoring = """\
- the leaks found: F1 of the reported leaks (matched by type and column; duplicates by type) against
  the planted ones (weight 2)
- the duplicated rows: F1 of the test ids listed against the duplicated ones (weight 1)
- per planted leak: a fitting mitigation (weight 0.5 each): drop the column for the target-derived,
  id and future leaks; drop_rows, deduplicate or group_split for the duplicates"""

    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "leakage_analysis.json",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "leaks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type"],
                        "properties": {
                            "type": {"enum": list(LEAK_TYPES)},
                            "column": {
                                "description": "The leaking column (for column leaks; `id` for an id leak).",
                                "type": ["string", "null"],
                            },
                            "rows": {
                                "description": "For duplicated rows: the test ids that also appear in train.",
                                "type": "array",
                                "items": {"type": ["integer", "string"]},
                            },
                            "evidence": {"type": "string"},
                            "mitigation": {"enum": list(MITIGATIONS)},
                        },
                    },
                },
                "notes": {"type": "string"},
            },
        }

    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        n = source.n_rows
        target = source.target
        stratify = target if source.kind != "regression" else None
        train_at, test_at = split(n, rng, stratify=stratify)
        signal = standardized(target.astype(float))
        derived_name = str(rng.choice(TARGET_DERIVED_NAMES))
        future_name = str(rng.choice(FUTURE_NAMES))
        # Realistic names for every feature, so the leaking columns are not the only named ones.
        renamed = quantity_names(source.feature_names, rng)
        features = source.features.rename(columns=renamed)

        # Target-derived: affine in the target, a little noise, a few values scrambled. This is the value
        # a row carries once it is labelled (train, and train's copies of test rows).
        slope, offset = rng.uniform(2.0, 8.0), rng.uniform(10.0, 50.0)
        derived = np.round(offset + slope * signal + rng.normal(size=n) * NOISE * slope, 3)
        scrambled = train_at[rng.random(len(train_at)) < SCRAMBLED_SHARE]
        derived[scrambled] = rng.permutation(derived[train_at])[: len(scrambled)]
        # From the future: strongly but not perfectly tied to the target.
        future = np.round(50 + 10 * (0.8 * signal + 0.6 * rng.normal(size=n)), 2)
        labelled = features.copy()
        labelled.insert(int(rng.integers(0, features.shape[1] + 1)), derived_name, derived)
        labelled.insert(int(rng.integers(0, labelled.shape[1] + 1)), future_name, future)
        # At prediction time the target-derived column holds nothing about the target (train's values,
        # drawn at random) and the future value is not recorded yet.
        unlabelled = labelled.copy()
        unlabelled[derived_name] = rng.choice(derived[train_at], size=n)
        unlabelled[future_name] = np.nan

        # Duplicates: some test rows also join train with their labels; the copies carry what labelled
        # rows carry in the two leaking columns, and equal their test row everywhere else.
        n_dup = max(MIN_DUPLICATES, round(DUPLICATE_SHARE * len(test_at)))
        copied = np.sort(rng.choice(test_at, size=n_dup, replace=False))
        train_rows = np.concatenate([train_at, copied])
        train_features = labelled.iloc[train_rows].reset_index(drop=True)
        train_target = target[train_rows]

        # Ids: train ids rise with the target; test ids are scattered among them at random.
        n_train, n_test = len(train_rows), len(test_at)
        pool = np.sort(random_ids(n_train + n_test, rng))
        test_slots = np.sort(rng.choice(n_train + n_test, size=n_test, replace=False))
        train_pool = np.delete(pool, test_slots)
        by_target = np.lexsort((rng.random(n_train), train_target))
        train_ids = np.empty(n_train, dtype=np.int64)
        train_ids[by_target] = train_pool
        test_ids = rng.permutation(pool[test_slots])
        order = rng.permutation(n_train)
        train = table(train_ids[order], train_features.iloc[order], train_target[order])
        test = table(test_ids, unlabelled.iloc[test_at])
        test_id_of_row = dict(zip(test_at.tolist(), test_ids.tolist(), strict=True))
        duplicated_test_ids = sorted(test_id_of_row[r] for r in copied.tolist())
        duplicate_train_ids = sorted(train_ids[n_train - n_dup :].tolist())

        leaks: list[dict[str, Any]] = [
            {
                "type": "target_derived",
                "column": derived_name,
                # value = offset + slope * (target standardized over the source rows) + noise
                "offset": offset,
                "slope": slope,
                "noise_sd": NOISE * slope,
            },
            {"type": "id_encodes_label", "column": ID},
            {
                "type": "train_test_duplicates",
                "column": None,
                "rows": duplicated_test_ids,
                "train_rows": duplicate_train_ids,
                "equal_columns": [c for c in labelled.columns if c not in (derived_name, future_name)],
            },
            {"type": "future_feature", "column": future_name},
        ]
        for leak in leaks:
            leak["key"] = leak_key(leak["type"], leak["column"])
            leak["correct_mitigations"] = list(CORRECT_MITIGATIONS[leak["type"]])
        planted = {"leaks": leaks, "scrambled_train_rows": len(scrambled), "renamed_features": renamed}
        instructions = """\
This dataset leaks: some information available in train.csv would not be available, or would not
mean the same thing, when predicting for new rows. Find every leak. For each, give its type
(`target_derived`: a column computed from the target; `id_encodes_label`: identifiers that reveal the
target; `train_test_duplicates`: records that appear in both train and test, listed by their test ids in
`rows`; `future_feature`: a value only known after the outcome; or `other`), the column where there
is one, your evidence, and how you would neutralise it (`mitigation`). Then predict `target` for
every test row with a model that does not rely on the leaks."""
        source_rows = np.concatenate([train_rows[order], test_at])
        return Derived(
            train,
            test,
            answers(test_ids, target[test_at]),
            planted,
            instructions,
            provenance=provenance(np.concatenate([train_ids[order], test_ids]), source_rows),
        )

    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        planted: list[dict[str, Any]] = truth["planted"]["leaks"]
        reported: dict[str, Mapping[str, Any]] = {}
        entries = analysis.get("leaks")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("type"), str):
                column = entry.get("column")
                key = leak_key(entry["type"], column.strip() if isinstance(column, str) else None)
                reported.setdefault(key, entry)
        items = [f1_item("leaks_found", [leak["key"] for leak in planted], reported, 2.0)]
        duplicates = next(leak for leak in planted if leak["type"] == "train_test_duplicates")
        rows = reported.get(duplicates["key"], {}).get("rows")
        listed = {str(r).strip() for r in rows} if isinstance(rows, list) else set()
        items.append(f1_item("duplicated_rows", {str(r) for r in duplicates["rows"]}, listed, 1.0))
        for leak in planted:
            entry = reported.get(leak["key"], {})
            items.append(
                choice_item(f"mitigation[{leak['key']}]", leak["correct_mitigations"], entry.get("mitigation"), 0.5)
            )
        return items


TASK = Leakage()
