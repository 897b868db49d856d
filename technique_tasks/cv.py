"""`cv`: grouped or time-ordered rows that make plain K-fold validation wrong.

Planted, by the seed's parity:
- even seeds, **grouped**: each source row becomes an entity (a patient, a customer …) measured
  one to several times with small jitter and the same label, and the test set holds entities never
  seen in train. Plain K-fold puts an entity's near-copies on both sides of a fold and overrates any
  model that memorises. A date column is a decoy: train and test dates interleave.
- odd seeds, **temporal**: rows get dates over three years, ordered so that one feature drifts with
  time, and the test set is the latest quarter of the rows. A categorical column with a few dozen
  levels shared by train and test is a decoy grouping.
The analysis names the structure, the column that defines it and the CV method; a submission and
an optional CV estimate of its score are asked for (the estimate's distance from the test score is reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from technique_tasks.base import Derived, TechniqueGrade, TechniqueTask
from technique_tasks.planting import answers, provenance, random_ids, standardized, table
from technique_tasks.scoring import Item, choice_item, f1_item
from technique_tasks.sources import SourceTable

STRUCTURES = ("iid", "grouped", "temporal")
METHODS = (
    "kfold",
    "stratified_kfold",
    "repeated_kfold",
    "group_kfold",
    "stratified_group_kfold",
    "leave_one_group_out",
    "time_series_split",
    "random_holdout",
)
CORRECT_METHODS = {
    "grouped": ("group_kfold", "stratified_group_kfold", "leave_one_group_out"),
    "temporal": ("time_series_split",),
}
GROUP_NAMES = {"patient_id": "P", "customer_id": "C", "device_id": "D", "household_id": "H"}
DECOY_GROUP_NAMES = ("branch", "sales_rep", "clinic", "warehouse")
#: Jitter of a repeated measurement, as a share of the feature's standard deviation.
JITTER = 0.08
#: Mean repeated measurements per entity in the grouped variant.
MEAN_GROUP_SIZE = 4
TEST_SHARE = 0.25
START, END = np.datetime64("2021-01-01"), np.datetime64("2023-12-31")


def variant_for(seed: int) -> str:
    return "grouped" if seed % 2 == 0 else "temporal"


class CrossValidation(TechniqueTask):
    name = "cv"
    title = "validation design"
    plants = (
        "Even seeds: repeated measurements of entities (group id column; test entities unseen in train; "
        "a decoy date column). Odd seeds: dated rows with drift, test = the latest quarter (a decoy grouping column)."
    )
    asks = "The structure (iid, grouped, temporal), the column defining it, the CV method and folds, a rationale; "
    asks += "a submission and an optional CV estimate of its score."
    scoring = """\
- the structure: grouped or temporal (weight 1)
- the CV method: a group-aware method for grouped rows (group_kfold, stratified_group_kfold,
  leave_one_group_out), time_series_split for temporal rows (weight 1)
- the columns named as `group_column` / `time_column`: F1 against the one that defines the structure,
  so naming a column that does not define it costs precision (weight 1)
- `n_splits` between 3 and 10 (weight 0.5); a rationale that names the defining column (weight 0.5)
- reported beside the score: how far `cv_score` is from the submission's test score"""

    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "cv_analysis.json",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "structure": {
                    "description": "How rows relate: independent, grouped by an entity, or ordered in time.",
                    "enum": list(STRUCTURES),
                },
                "cv_method": {"enum": list(METHODS)},
                "n_splits": {"type": "integer", "minimum": 2},
                "group_column": {"type": ["string", "null"]},
                "time_column": {"type": ["string", "null"]},
                "rationale": {"type": "string"},
                "cv_score": {
                    "description": "Your validation estimate of the submission's score, by the task's metric.",
                    "type": "number",
                },
            },
        }

    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        variant = variant_for(seed)
        if variant == "grouped":
            return self._grouped(source, rng)
        return self._temporal(source, rng)

    def _grouped(self, source: SourceTable, rng: np.random.Generator) -> Derived:
        n_entities = max(source.n_rows // MEAN_GROUP_SIZE, 60)
        bases = np.sort(rng.choice(source.n_rows, size=min(n_entities, source.n_rows), replace=False))
        sizes = 1 + rng.poisson(MEAN_GROUP_SIZE - 1, size=len(bases))
        base_of_row = np.repeat(bases, sizes)
        entity_of_row = np.repeat(np.arange(len(bases)), sizes)
        stds = source.features.std().to_numpy()
        jitter = rng.normal(size=(len(base_of_row), len(stds))) * stds * JITTER
        features = pd.DataFrame(
            np.round(source.features.to_numpy()[base_of_row] + jitter, 4), columns=source.feature_names
        )
        target = source.target[base_of_row]
        if source.kind == "regression":
            target = np.round(target + rng.normal(size=len(target)) * target.std() * 0.05, 4)
        group_column = str(rng.choice(sorted(GROUP_NAMES)))
        codes = rng.choice(np.arange(10_000, 100_000), size=len(bases), replace=False)
        groups = np.array([f"{GROUP_NAMES[group_column]}{c}" for c in codes], dtype=object)[entity_of_row]
        decoy = "visit_date"
        days = int((END - START).astype(int))
        dates = START + rng.integers(0, days, size=len(target)).astype("timedelta64[D]")
        features.insert(0, decoy, pd.to_datetime(dates).strftime("%Y-%m-%d"))
        features.insert(0, group_column, groups)
        test_entities = rng.choice(len(bases), size=round(len(bases) * TEST_SHARE), replace=False)
        in_test = np.isin(entity_of_row, test_entities)
        # Rows in random order: neither an entity's rows nor dates sit together in the file.
        order = rng.permutation(len(target))
        train_at, test_at = np.sort(order[~in_test[order]]), np.sort(order[in_test[order]])
        train_at, test_at = rng.permutation(train_at), rng.permutation(test_at)
        ids = random_ids(len(target), rng)
        train = table(ids[train_at], features.iloc[train_at], target[train_at])
        test = table(ids[test_at], features.iloc[test_at])
        sizes_in_train = train[group_column].value_counts()
        planted = {
            "structure": "grouped",
            "key_column": group_column,
            "group_column": group_column,
            "time_column": None,
            "decoy_columns": [decoy],
            "correct_methods": list(CORRECT_METHODS["grouped"]),
            "entities_in_train": int(train[group_column].nunique()),
            "entities_in_test": int(test[group_column].nunique()),
            "entities_in_both": len(set(train[group_column]) & set(test[group_column])),
            "mean_rows_per_entity_in_train": float(sizes_in_train.mean()),
        }
        notes = {group_column: "an identifier.", decoy: "a date."}
        return Derived(
            train,
            test,
            answers(ids[test_at], target[test_at]),
            planted,
            _INSTRUCTIONS,
            notes,
            provenance(ids, base_of_row),
        )

    def _temporal(self, source: SourceTable, rng: np.random.Generator) -> Derived:
        n = source.n_rows
        drifting = str(rng.choice(source.feature_names))
        # Time order follows the drifting feature loosely: it moves over the years, the rest do not.
        key = standardized(source.features[drifting].to_numpy(dtype=float)) + rng.normal(size=n) * 0.8
        order = np.argsort(key)
        days = int((END - START).astype(int))
        day_offsets = np.sort(rng.integers(0, days, size=n))
        dates = np.empty(n, dtype="datetime64[D]")
        dates[order] = START + day_offsets.astype("timedelta64[D]")
        features = source.features.copy()
        time_column = "event_date"
        decoy = str(rng.choice(DECOY_GROUP_NAMES))
        n_decoy = int(rng.integers(20, 41))
        decoy_codes = np.array([f"{decoy[:2].upper()}{i:02d}" for i in range(n_decoy)], dtype=object)
        features.insert(0, decoy, decoy_codes[rng.integers(0, n_decoy, size=n)])
        features.insert(0, time_column, pd.to_datetime(dates).strftime("%Y-%m-%d"))
        cut = day_offsets[n - round(n * TEST_SHARE)]
        in_test = dates >= START + np.timedelta64(int(cut), "D")
        train_at, test_at = rng.permutation(np.flatnonzero(~in_test)), rng.permutation(np.flatnonzero(in_test))
        ids = random_ids(n, rng)
        train = table(ids[train_at], features.iloc[train_at], source.target[train_at])
        test = table(ids[test_at], features.iloc[test_at])
        planted = {
            "structure": "temporal",
            "key_column": time_column,
            "group_column": None,
            "time_column": time_column,
            "decoy_columns": [decoy],
            "drifting_feature": drifting,
            "correct_methods": list(CORRECT_METHODS["temporal"]),
            "train_dates": [str(train[time_column].min()), str(train[time_column].max())],
            "test_dates": [str(test[time_column].min()), str(test[time_column].max())],
        }
        notes = {time_column: "a date.", decoy: "an identifier."}
        return Derived(
            train,
            test,
            answers(ids[test_at], source.target[test_at]),
            planted,
            _INSTRUCTIONS,
            notes,
            provenance(ids, np.arange(n)),
        )

    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        planted = truth["planted"]
        key = planted["key_column"]
        named = [
            str(analysis[field]).strip()
            for field in ("group_column", "time_column")
            if isinstance(analysis.get(field), str) and analysis[field].strip()
        ]
        n_splits = analysis.get("n_splits")
        rationale = analysis.get("rationale")
        return [
            choice_item("structure", [planted["structure"]], analysis.get("structure"), 1.0),
            choice_item("cv_method", planted["correct_methods"], analysis.get("cv_method"), 1.0),
            f1_item("structure_column", [key], named, 1.0),
            Item(
                "n_splits", 1.0 if isinstance(n_splits, int) and 3 <= n_splits <= 10 else 0.0, 0.5, "3 to 10", n_splits
            ),
            Item(
                "rationale",
                1.0 if isinstance(rationale, str) and key in rationale else 0.0,
                0.5,
                f"names {key}",
                rationale,
            ),
        ]

    def grade(self, analysis: Mapping[str, Any] | None, submission_path: Path | None, private: Path) -> TechniqueGrade:
        graded = super().grade(analysis, submission_path, private)
        estimate = (analysis or {}).get("cv_score")
        if isinstance(estimate, int | float) and graded.submission.score is not None:
            graded.outcome = {
                "cv_score": float(estimate),
                "test_score": graded.submission.score,
                "cv_score_gap": abs(float(estimate) - graded.submission.score),
            }
        return graded


_INSTRUCTIONS = """\
Work out how the rows relate to one another and to the test rows, and design the validation that
estimates the test score honestly. Report the structure you find (`structure`: iid, grouped or
temporal), the column that defines it (`group_column` or `time_column`), the CV method
(`cv_method`) and its number of folds (`n_splits`), and why (`rationale`). Then predict `target` for
every test row, and report in `cv_score` what your validation says the submission will score."""


TASK = CrossValidation()
