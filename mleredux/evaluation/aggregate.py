"""An evaluation's headline figures, computed the way MLE-bench computes them.

MLE-bench (`experiments/aggregate_grading_reports.py`) takes, for each seed, one report per
competition of the set; a competition with no report in a seed counts as its zero report (no
submission, nothing won). Each seed gives a percentage per figure over the whole set; the figures
are then the mean across seeds, the standard error of that mean (sample deviation, ddof 1; 0 for a
single seed) and mean ± 1.96 standard errors. "Any medal" is gold or silver or bronze.

`Aggregate` keeps integer counts per (group, seed, figure), so adding one run's outcome updates
the figures in constant time and reading them costs seeds x figures, never a pass over reports.
Groups are the whole set ("all") and each complexity present in it ("low", "medium", "high").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mleredux.errors import InvalidArgumentError

#: The figures, in the order they are shown; each is a percentage of the set's competitions.
FIGURES: tuple[str, ...] = (
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "valid_submission",
    "submission_exists",
)
#: How MLE-bench names each figure in its aggregate output.
MLEBENCH_NAMES: dict[str, str] = {
    "any_medal": "any_medal_percentage",
    "gold_medal": "gold_medal_percentage",
    "silver_medal": "silver_medal_percentage",
    "bronze_medal": "bronze_medal_percentage",
    "above_median": "above_median_percentage",
    "valid_submission": "valid_submissions_percentage",
    "submission_exists": "submission_exists_percentage",
}
#: The normal quantile MLE-bench's interval uses.
Z_95 = 1.96
ALL = "all"
COMPLEXITIES: tuple[str, ...] = ("low", "medium", "high")


@dataclass(frozen=True)
class Outcome:
    """What one run contributes: the medal and submission flags of its report (and its score)."""

    competition_id: str
    seed: int
    gold_medal: bool = False
    silver_medal: bool = False
    bronze_medal: bool = False
    above_median: bool = False
    submission_exists: bool = False
    valid_submission: bool = False
    score: float | None = None

    @property
    def any_medal(self) -> bool:
        return self.gold_medal or self.silver_medal or self.bronze_medal

    def flag(self, figure: str) -> bool:
        return bool(getattr(self, figure))

    @classmethod
    def zero(cls, competition_id: str, seed: int) -> Outcome:
        """MLE-bench's zero report: a run that ended with no graded submission."""
        return cls(competition_id, seed)

    @classmethod
    def from_report(cls, report: Mapping[str, Any], seed: int) -> Outcome:
        """From a grade report (ours or MLE-bench's `CompetitionReport` as a dict)."""
        score = report.get("score")
        return cls(
            competition_id=str(report["competition_id"]),
            seed=seed,
            gold_medal=bool(report.get("gold_medal")),
            silver_medal=bool(report.get("silver_medal")),
            bronze_medal=bool(report.get("bronze_medal")),
            above_median=bool(report.get("above_median")),
            submission_exists=bool(report.get("submission_exists")),
            valid_submission=bool(report.get("valid_submission")),
            score=float(score) if score is not None and bool(report.get("valid_submission")) else None,
        )


@dataclass(frozen=True)
class Figure:
    """Mean across seeds, its standard error (ddof 1) and the 95% interval, all in percent."""

    mean: float
    standard_error: float
    ci_lower: float
    ci_upper: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Figure:
        if not values:
            return cls(0.0, 0.0, 0.0, 0.0)
        mean = math.fsum(values) / len(values)
        if len(values) > 1:
            variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
            sem = math.sqrt(variance) / math.sqrt(len(values))
        else:
            sem = 0.0  # MLE-bench's rule for a single seed
        return cls(mean, sem, mean - Z_95 * sem, mean + Z_95 * sem)


@dataclass(frozen=True)
class GroupFigures:
    """The headline figures of one group of competitions (the whole set or one complexity)."""

    group: str
    competitions: int
    seeds: int
    figures: dict[str, Figure]
    #: Each seed's percentages, seed order (what MLE-bench prints as "Seed N").
    per_seed: list[dict[str, float]]


@dataclass(frozen=True)
class CompetitionFigures:
    """Score statistics of one competition over the seeds whose submission was scored."""

    competition_id: str
    complexity: str
    scored: int
    score_mean: float | None
    #: Sample standard deviation (ddof 1); None with fewer than two scores.
    score_std: float | None
    score_min: float | None
    score_max: float | None


@dataclass
class _Moments:
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: float = math.inf
    high: float = -math.inf


@dataclass
class Aggregate:
    """The running aggregate of one evaluation: a set of competitions x seeds 1..`seeds`."""

    competition_ids: list[str]
    seeds: int
    #: Each competition's complexity; missing ones count as "low" (the catalog's dev convention).
    complexity: Mapping[str, str] = field(default_factory=dict)
    _outcomes: dict[tuple[str, int], Outcome] = field(default_factory=dict, init=False, repr=False)
    #: (group, seed index, figure) -> how many competitions of the group have the flag in that seed.
    _counts: dict[tuple[str, int, str], int] = field(default_factory=dict, init=False, repr=False)
    _scores: dict[str, _Moments] = field(default_factory=dict, init=False, repr=False)
    _group_sizes: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise InvalidArgumentError("an aggregate needs at least one seed")
        if not self.competition_ids:
            raise InvalidArgumentError("an aggregate needs at least one competition")
        if len(set(self.competition_ids)) != len(self.competition_ids):
            raise InvalidArgumentError("the competition set lists a competition twice")
        self.competition_ids = list(self.competition_ids)
        self._members = set(self.competition_ids)
        self._group_sizes[ALL] = len(self.competition_ids)
        for cid in self.competition_ids:
            group = self.group_of(cid)
            self._group_sizes[group] = self._group_sizes.get(group, 0) + 1

    def group_of(self, competition_id: str) -> str:
        return self.complexity.get(competition_id, "low")

    def groups(self) -> list[str]:
        """ "all" first, then the complexities present, easiest first."""
        return [
            ALL,
            *(c for c in COMPLEXITIES if c in self._group_sizes),
            *sorted(g for g in self._group_sizes if g != ALL and g not in COMPLEXITIES),
        ]

    # -- updating ----------------------------------------------------------------------------------

    def add(self, outcome: Outcome) -> None:
        """Records (or replaces, e.g. after a retry) the outcome of one competition in one seed."""
        if outcome.competition_id not in self._members:
            raise InvalidArgumentError(f"{outcome.competition_id!r} is not in the evaluation's competition set")
        if not 1 <= outcome.seed <= self.seeds:
            raise InvalidArgumentError(f"seed {outcome.seed} is outside 1..{self.seeds}")
        key = (outcome.competition_id, outcome.seed)
        previous = self._outcomes.pop(key, None)
        if previous is not None:
            self._count(previous, -1)
        self._outcomes[key] = outcome
        self._count(outcome, +1)

    def _count(self, outcome: Outcome, sign: int) -> None:
        for group in (ALL, self.group_of(outcome.competition_id)):
            for figure in FIGURES:
                if outcome.flag(figure):
                    key = (group, outcome.seed, figure)
                    self._counts[key] = self._counts.get(key, 0) + sign
        if outcome.score is not None:
            moments = self._scores.setdefault(outcome.competition_id, _Moments())
            moments.n += sign
            moments.total += sign * outcome.score
            moments.total_sq += sign * outcome.score**2
            if sign > 0:
                moments.low = min(moments.low, outcome.score)
                moments.high = max(moments.high, outcome.score)
            else:
                self._rescan_extremes(outcome.competition_id)

    def _rescan_extremes(self, competition_id: str) -> None:
        # Only a replaced outcome gets here (a retry), so a scan of one competition's seeds is rare and small.
        moments = self._scores[competition_id]
        found = (self._outcomes.get((competition_id, seed)) for seed in range(1, self.seeds + 1))
        scores = [o.score for o in found if o is not None and o.score is not None]
        moments.low = min(scores, default=math.inf)
        moments.high = max(scores, default=-math.inf)

    # -- reading -----------------------------------------------------------------------------------

    def outcomes(self) -> list[Outcome]:
        return list(self._outcomes.values())

    def outcome(self, competition_id: str, seed: int) -> Outcome:
        """The recorded outcome, or the zero report when that run has not ended."""
        return self._outcomes.get((competition_id, seed)) or Outcome.zero(competition_id, seed)

    @property
    def recorded(self) -> int:
        return len(self._outcomes)

    @property
    def complete(self) -> bool:
        return len(self._outcomes) == len(self.competition_ids) * self.seeds

    def group(self, group: str = ALL) -> GroupFigures:
        size = self._group_sizes.get(group)
        if size is None:
            raise InvalidArgumentError(f"no competition of the set is in group {group!r}")
        per_seed = [
            {figure: self._counts.get((group, seed, figure), 0) / size * 100 for figure in FIGURES}
            for seed in range(1, self.seeds + 1)
        ]
        figures = {figure: Figure.of([row[figure] for row in per_seed]) for figure in FIGURES}
        return GroupFigures(group=group, competitions=size, seeds=self.seeds, figures=figures, per_seed=per_seed)

    def all_groups(self) -> list[GroupFigures]:
        return [self.group(g) for g in self.groups()]

    def competition(self, competition_id: str) -> CompetitionFigures:
        moments = self._scores.get(competition_id, _Moments())
        n = moments.n
        mean = moments.total / n if n else None
        std = None
        if n > 1 and mean is not None:
            std = math.sqrt(max(moments.total_sq - n * mean * mean, 0.0) / (n - 1))
        return CompetitionFigures(
            competition_id=competition_id,
            complexity=self.group_of(competition_id),
            scored=n,
            score_mean=mean,
            score_std=std,
            score_min=moments.low if n else None,
            score_max=moments.high if n else None,
        )

    def competitions(self) -> list[CompetitionFigures]:
        return [self.competition(cid) for cid in self.competition_ids]


def aggregate_of(
    competition_ids: Sequence[str], seeds: int, outcomes: Iterable[Outcome], complexity: Mapping[str, str] | None = None
) -> Aggregate:
    """An aggregate built from outcomes at once (the same as adding them one by one)."""
    aggregate = Aggregate(list(competition_ids), seeds, dict(complexity or {}))
    for outcome in outcomes:
        aggregate.add(outcome)
    return aggregate
