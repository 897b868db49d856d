"""How an analysis is scored: weighted items, each in [0, 1], each kept with what was expected and found.

A task's grade is the weighted mean of its items. An item that the analysis does not address scores
0, so an empty analysis scores 0 and a perfect one 1. Lists of findings (columns, leaks, rows) are
scored by F1, the harmonic mean of precision (how much of what was reported is real) and recall (how
much of what was planted was reported); the item keeps both.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Item:
    """One graded point of an analysis."""

    name: str
    score: float
    weight: float
    expected: Any = None
    found: Any = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        if not self.extra:
            body.pop("extra")
        return body


def weighted_score(items: Iterable[Item]) -> float:
    listed = list(items)
    total = sum(i.weight for i in listed)
    return float(sum(i.score * i.weight for i in listed) / total) if total else 0.0


def f1_item(name: str, expected: Collection[Any], found: Collection[Any], weight: float) -> Item:
    """F1 of reported findings against the planted ones; precision and recall kept in `extra`."""
    truth, reported = set(expected), set(found)
    hits = truth & reported
    precision = len(hits) / len(reported) if reported else 0.0
    recall = len(hits) / len(truth) if truth else (1.0 if not reported else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Item(
        name,
        f1,
        weight,
        expected=sorted(truth, key=str),
        found=sorted(reported, key=str),
        note=f"precision {precision:.3f}, recall {recall:.3f}",
        extra={
            "precision": precision,
            "recall": recall,
            "missed": sorted(truth - reported, key=str),
            "false_positives": sorted(reported - truth, key=str),
        },
    )


def exact_item(name: str, expected: Any, found: Any, weight: float) -> Item:
    return Item(name, 1.0 if found is not None and found == expected else 0.0, weight, expected, found)


def choice_item(name: str, correct: Collection[str], found: Any, weight: float, note: str = "") -> Item:
    """1 when the chosen option is one of the options correct for what was planted."""
    ok = isinstance(found, str) and found in correct
    return Item(name, 1.0 if ok else 0.0, weight, sorted(correct), found, note)


def close_item(name: str, expected: float, found: Any, weight: float, *, tolerance: float) -> Item:
    """1 when a number is within `tolerance` of the truth (absolute)."""
    ok = isinstance(found, int | float) and not isinstance(found, bool) and math.isfinite(found)
    ok = ok and abs(float(found) - expected) <= tolerance
    return Item(name, 1.0 if ok else 0.0, weight, expected, found, f"tolerance ±{tolerance:g}")


def by_key(entries: Any, key: str) -> dict[str, Mapping[str, Any]]:
    """A list of objects indexed by one of their text fields (the first entry wins on a repeat)."""
    out: dict[str, Mapping[str, Any]] = {}
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, Mapping) and isinstance(entry.get(key), str):
                out.setdefault(entry[key].strip(), entry)
    return out
