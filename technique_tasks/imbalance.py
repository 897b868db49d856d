"""`imbalance`: a binary target whose positive class is rare, at a known share.

Planted: one source class becomes the positive class (the rarer one of a binary source, one chosen
by the seed in a multiclass source) and positives are thinned to a share drawn from MINORITY_SHARES;
train and test keep that share. The analysis reports the class counts, the minority class and its
share, and the strategy, metric and validation it would use; a probability submission is scored by
average precision, which rewards ranking the rare positives first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from technique_tasks.base import Derived, TechniqueTask
from technique_tasks.outcome import TARGET
from technique_tasks.planting import answers, provenance, random_ids, split, table
from technique_tasks.scoring import Item, choice_item, close_item, exact_item
from technique_tasks.sources import SourceTable, TargetKind

MINORITY_SHARES = (0.02, 0.03, 0.05, 0.08)
#: Fewer positives than this over train and test together leave too little to learn or measure.
MIN_POSITIVES = 20

STRATEGIES = (
    "none",
    "class_weight",
    "random_oversampling",
    "random_undersampling",
    "smote",
    "threshold_tuning",
    "focal_loss",
)
METRICS = ("accuracy", "roc_auc", "average_precision", "f1", "balanced_accuracy", "log_loss", "mcc")
VALIDATIONS = (
    "random_holdout",
    "kfold",
    "stratified_kfold",
    "repeated_stratified_kfold",
    "group_kfold",
    "time_series_split",
)

CORRECT_STRATEGIES = frozenset(STRATEGIES) - {"none"}
#: Accuracy rewards predicting the majority; log loss alone hides how the rare class is ranked.
CORRECT_METRICS = frozenset({"roc_auc", "average_precision", "f1", "balanced_accuracy", "mcc"})
CORRECT_VALIDATIONS = frozenset({"stratified_kfold", "repeated_stratified_kfold"})
SHARE_TOLERANCE = 0.005


class Imbalance(TechniqueTask):
    name = "imbalance"
    title = "class imbalance"
    source_kinds = frozenset({"binary", "multiclass"})
    plants = "A binary target whose positive class is thinned to a seeded share (2, 3, 5 or 8 %)."
    asks = (
        "Class counts, minority class and share, whether it is imbalanced, and the strategy, metric and "
        "validation to use; a probability submission."
    )
    scoring = """\
- class counts: share of classes whose train count is exact (weight 1)
- minority class (weight 1); minority share within ±0.005 (weight 1); `is_imbalanced` (weight 0.5)
- strategy: any that counters the imbalance, not `none` (weight 1)
- metric: one that is meaningful under imbalance (roc_auc, average_precision, f1, balanced_accuracy,
  mcc), not accuracy or log loss alone (weight 1)
- validation: stratified folds (weight 0.5)"""

    def target_kind(self, source: SourceTable) -> TargetKind:
        return "binary"

    def outcome_metric(self, kind: TargetKind) -> str:
        return "average_precision"

    def schema(self) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "imbalance_analysis.json",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "target_column": {"type": "string"},
                "class_counts": {
                    "description": 'Rows of train.csv per target value, keyed by the value as text (e.g. "0").',
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
                "minority_class": {"description": "The rarest target value, as text.", "type": "string"},
                "minority_share": {
                    "description": "The minority class's share of train rows.",
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                },
                "is_imbalanced": {"type": "boolean"},
                "strategy": {"description": "How training deals with the imbalance.", "enum": list(STRATEGIES)},
                "metric": {"description": "The metric you would select models by.", "enum": list(METRICS)},
                "validation": {"description": "How you would validate.", "enum": list(VALIDATIONS)},
                "rationale": {"type": "string"},
            },
        }

    def plant(self, source: SourceTable, rng: np.random.Generator, seed: int) -> Derived:
        codes, counts = np.unique(source.target, return_counts=True)
        positive = int(codes[np.argmin(counts)]) if source.kind == "binary" else int(rng.choice(codes))
        is_positive = source.target == positive
        n_neg_all, n_pos_all = int((~is_positive).sum()), int(is_positive.sum())
        feasible = [s for s in MINORITY_SHARES if round(s / (1 - s) * n_neg_all) >= MIN_POSITIVES]
        share = float(rng.choice(feasible)) if feasible else MINORITY_SHARES[-1]
        n_pos = round(share / (1 - share) * n_neg_all)
        n_neg = n_neg_all
        if n_pos > n_pos_all:  # too few positives: keep them all and thin the negatives instead
            n_pos = n_pos_all
            n_neg = round(n_pos * (1 - share) / share)
        keep_pos = rng.choice(np.flatnonzero(is_positive), size=n_pos, replace=False)
        keep_neg = rng.choice(np.flatnonzero(~is_positive), size=n_neg, replace=False)
        rows = np.sort(np.concatenate([keep_pos, keep_neg]))
        target = is_positive[rows].astype(int)
        features = source.features.iloc[rows].reset_index(drop=True)
        train_at, test_at = split(len(rows), rng, stratify=target)
        ids = random_ids(len(rows), rng)
        train = table(ids[train_at], features.iloc[train_at], target[train_at])
        test = table(ids[test_at], features.iloc[test_at])
        train_counts = {str(k): int(v) for k, v in zip(*np.unique(train[TARGET], return_counts=True), strict=True)}
        planted = {
            "source_positive_class": source.class_names[positive] if source.class_names else str(positive),
            "planted_share": share,
            "class_counts": train_counts,
            "minority_class": "1",
            "minority_share": train_counts["1"] / len(train),
            "correct_strategies": sorted(CORRECT_STRATEGIES),
            "correct_metrics": sorted(CORRECT_METRICS),
            "correct_validations": sorted(CORRECT_VALIDATIONS),
        }
        instructions = """\
Describe the target's class distribution in train.csv: the count of each class, which class is the
minority and its share, and whether that calls for special handling. Say how you would train
(`strategy`), which metric you would select models by (`metric`) and how you would validate
(`validation`). Then predict the probability that `target` is 1 for every test row."""
        return Derived(
            train,
            test,
            answers(ids[test_at], target[test_at]),
            planted,
            instructions,
            provenance=provenance(ids, rows),
        )

    def grade_analysis(self, analysis: Mapping[str, Any], truth: Mapping[str, Any]) -> list[Item]:
        planted = truth["planted"]
        expected: dict[str, int] = planted["class_counts"]
        found = analysis.get("class_counts")
        counts_found = {str(k).strip(): v for k, v in found.items()} if isinstance(found, dict) else {}
        keys = set(expected) | set(counts_found)
        right = sum(1 for k in keys if counts_found.get(k) == expected.get(k))
        minority = analysis.get("minority_class")
        return [
            Item("class_counts", right / len(keys) if counts_found else 0.0, 1.0, expected, found or None),
            exact_item(
                "minority_class",
                planted["minority_class"],
                minority.strip() if isinstance(minority, str) else None,
                1.0,
            ),
            close_item(
                "minority_share",
                planted["minority_share"],
                analysis.get("minority_share"),
                1.0,
                tolerance=SHARE_TOLERANCE,
            ),
            exact_item("is_imbalanced", True, analysis.get("is_imbalanced"), 0.5),
            choice_item("strategy", planted["correct_strategies"], analysis.get("strategy"), 1.0),
            choice_item("metric", planted["correct_metrics"], analysis.get("metric"), 1.0),
            choice_item("validation", planted["correct_validations"], analysis.get("validation"), 0.5),
        ]


TASK = Imbalance()
