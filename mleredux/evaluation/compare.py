"""Comparing two evaluations of the same competition set: the difference in each headline figure.

The difference is B minus A, in percentage points. Its interval is a paired bootstrap: each
resample draws the competitions with replacement (the same draw for both evaluations, which is the
pairing: a competition that is hard for A is hard for B) and, independently for each evaluation, its
seeds with replacement; the figure of a resample is computed as MLE-bench computes it (percent per
seed, mean across seeds). The interval is the 2.5th to 97.5th percentile of the resampled
differences; it "excludes zero" when both ends lie on the same side of 0. The RNG is seeded, so the
same inputs always give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mleredux.errors import InvalidArgumentError
from mleredux.evaluation.aggregate import FIGURES, Aggregate

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_RNG_SEED = 20240601


@dataclass(frozen=True)
class Difference:
    """B minus A for one figure, in percentage points, with its bootstrap interval."""

    figure: str
    a: float
    b: float
    difference: float
    ci_lower: float
    ci_upper: float

    @property
    def excludes_zero(self) -> bool:
        return self.ci_lower > 0 or self.ci_upper < 0


@dataclass(frozen=True)
class Comparison:
    competitions: int
    seeds_a: int
    seeds_b: int
    resamples: int
    differences: list[Difference]


def _flags(aggregate: Aggregate, competition_ids: Sequence[str]) -> np.ndarray:
    """figure x competition x seed, 1.0 where the outcome has the flag (missing runs are zero reports)."""
    import numpy as np  # here, not at import: the CLI (and every service started through it) imports this

    out = np.zeros((len(FIGURES), len(competition_ids), aggregate.seeds))
    for c, cid in enumerate(competition_ids):
        for s in range(aggregate.seeds):
            outcome = aggregate.outcome(cid, s + 1)
            for f, figure in enumerate(FIGURES):
                out[f, c, s] = outcome.flag(figure)
    return out


def compare(
    a: Aggregate, b: Aggregate, *, resamples: int = DEFAULT_RESAMPLES, rng_seed: int = DEFAULT_RNG_SEED
) -> Comparison:
    """Pairs `a` and `b` competition by competition; their competition sets must be the same."""
    if set(a.competition_ids) != set(b.competition_ids):
        only_a = sorted(set(a.competition_ids) - set(b.competition_ids))
        only_b = sorted(set(b.competition_ids) - set(a.competition_ids))
        raise InvalidArgumentError(
            "the evaluations are on different competition sets and cannot be paired "
            f"(only in A: {', '.join(only_a) or 'none'}; only in B: {', '.join(only_b) or 'none'})"
        )
    if resamples < 1:
        raise InvalidArgumentError("resamples must be at least 1")
    ids = sorted(a.competition_ids)
    flags_a, flags_b = _flags(a, ids), _flags(b, ids)
    # The observed figures: the mean of per-seed percentages equals the mean over the whole grid
    # because every seed covers the same competitions.
    observed_a = flags_a.mean(axis=(1, 2)) * 100
    observed_b = flags_b.mean(axis=(1, 2)) * 100
    import numpy as np

    rng = np.random.default_rng(rng_seed)
    n = len(ids)
    samples = np.empty((resamples, len(FIGURES)))
    for r in range(resamples):
        comps = rng.integers(0, n, n)
        seeds_a = rng.integers(0, a.seeds, a.seeds)
        seeds_b = rng.integers(0, b.seeds, b.seeds)
        fa = flags_a[:, comps][:, :, seeds_a].mean(axis=(1, 2))
        fb = flags_b[:, comps][:, :, seeds_b].mean(axis=(1, 2))
        samples[r] = (fb - fa) * 100
    lower = np.percentile(samples, 2.5, axis=0)
    upper = np.percentile(samples, 97.5, axis=0)
    differences = [
        Difference(
            figure=figure,
            a=float(observed_a[f]),
            b=float(observed_b[f]),
            difference=float(observed_b[f] - observed_a[f]),
            ci_lower=float(lower[f]),
            ci_upper=float(upper[f]),
        )
        for f, figure in enumerate(FIGURES)
    ]
    return Comparison(competitions=n, seeds_a=a.seeds, seeds_b=b.seeds, resamples=resamples, differences=differences)
