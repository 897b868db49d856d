"""Building blocks the tasks plant with: splits, ids, calibrated masks, frames in the public layout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from technique_tasks.outcome import ID, TARGET

#: Share of the derived rows that become the test set.
TEST_SHARE = 0.25


def split(n: int, rng: np.random.Generator, *, stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, test positions), sorted; stratified by class when `stratify` is given."""
    if stratify is None:
        order = rng.permutation(n)
        n_test = round(n * TEST_SHARE)
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    test: list[np.ndarray] = []
    for value in np.unique(stratify):
        members = rng.permutation(np.flatnonzero(stratify == value))
        test.append(members[: round(len(members) * TEST_SHARE)])
    test_positions = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(n), test_positions), test_positions


def random_ids(n: int, rng: np.random.Generator, *, low: int = 100_000, high: int = 1_000_000) -> np.ndarray:
    """`n` distinct integer ids in [low, high), in random order: their order says nothing."""
    return rng.choice(np.arange(low, high), size=n, replace=False)


def table(ids: np.ndarray, columns: pd.DataFrame, target: np.ndarray | None = None) -> pd.DataFrame:
    """A public table: `id` first, the columns, then `target` when given."""
    frame = pd.concat([pd.DataFrame({ID: ids}), columns.reset_index(drop=True)], axis=1)
    if target is not None:
        frame[TARGET] = target
    return frame


def answers(ids: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({ID: ids, TARGET: target})


def standardized(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / (std if std > 0 else 1.0)


def calibrated_probability(score: np.ndarray, rate: float, *, slope: float) -> np.ndarray:
    """P = sigmoid(slope * (z - t)) on the standardized score, with t chosen so that mean(P) = rate."""
    z = standardized(score.astype(float))
    low, high = -20.0, 20.0
    for _ in range(80):
        middle = (low + high) / 2
        mean = float((1 / (1 + np.exp(-slope * (z - middle)))).mean())
        low, high = (middle, high) if mean > rate else (low, middle)
    p: np.ndarray = 1 / (1 + np.exp(-slope * (z - (low + high) / 2)))
    return p


def mask_with_rate(p: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Draw a mask from per-row probabilities, then adjust a few rows so its share is `rate` (to the row).

    The adjustment follows the probabilities (the likeliest unmasked rows are masked first), so the
    mechanism is kept while the rate is exact.
    """
    mask = rng.random(len(p)) < p
    wanted = round(rate * len(p))
    noise = rng.random(len(p)) * 1e-9
    if mask.sum() < wanted:
        candidates = np.flatnonzero(~mask)
        extra = candidates[np.argsort(-(p[candidates] + noise[candidates]))[: wanted - mask.sum()]]
        mask[extra] = True
    elif mask.sum() > wanted:
        candidates = np.flatnonzero(mask)
        drop = candidates[np.argsort(p[candidates] + noise[candidates])[: mask.sum() - wanted]]
        mask[drop] = False
    return mask


def provenance(ids: np.ndarray, source_rows: np.ndarray) -> pd.DataFrame:
    """`id,source_row`: the source row each derived row was made from."""
    return pd.DataFrame({ID: ids, "source_row": source_rows})


#: Names of quantities, for tasks where planted columns must not stand out as the only named ones.
QUANTITY_NAMES = (
    "age",
    "income",
    "tenure_months",
    "balance",
    "distance_km",
    "duration_min",
    "weight_kg",
    "height_cm",
    "temperature",
    "pressure",
    "rate",
    "volume",
    "spend_last_month",
    "load",
    "speed",
    "density",
    "humidity",
    "signal_strength",
    "latency_ms",
    "order_value",
    "session_length",
    "utilisation",
)


def quantity_names(features: list[str], rng: np.random.Generator) -> dict[str, str]:
    """A realistic name for each source feature (`f_00` -> `balance`, …), drawn without repeats."""
    names = rng.choice(QUANTITY_NAMES, size=len(features), replace=False)
    return {feature: str(name) for feature, name in zip(features, names, strict=True)}
