"""Medal thresholds from a leaderboard, by Kaggle's progression rules.

Kaggle awards medals by rank with four bands of team count N:

| N          | gold                 | silver     | bronze     |
|------------|----------------------|------------|------------|
| 0-99       | top 10%              | top 20%    | top 40%    |
| 100-249    | top 10 teams         | top 20%    | top 40%    |
| 250-999    | top 10 + 0.2%·N      | top 50     | top 100    |
| 1000+      | top 10 + 0.2%·N      | top 5%     | top 10%    |

A threshold is the score of the last team inside the band (rank counts are floored, at least 1),
so a score equal to a threshold earns that medal. The median is the leaderboard's median score and
"above median" is strict.

A score is ranked at the leaderboard's precision, as MLE-bench ranks it: rounded to
`LEADERBOARD_DECIMALS` decimals (Python's `round`, the nearest double to the decimal value, ties to
even) before it is compared with thresholds that are themselves the leaderboard's scores as written.
A score of 0.8715767 is therefore gold against a gold threshold of 0.87158, as on Kaggle's board.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The decimals Kaggle's leaderboards show, and the precision MLE-bench rounds every score to.
LEADERBOARD_DECIMALS = 5


def leaderboard_score(score: float) -> float:
    """`score` at the leaderboard's precision: the value that is reported and ranked."""
    return round(score, LEADERBOARD_DECIMALS)


@dataclass(frozen=True)
class MedalThresholds:
    """The score a submission must reach (inclusive) for each medal, and the leaderboard median."""

    gold: float
    silver: float
    bronze: float
    median: float
    teams: int


@dataclass(frozen=True)
class Medals:
    """Which medals a score earns; at most one of gold/silver/bronze is true."""

    gold: bool
    silver: bool
    bronze: bool
    above_median: bool

    @property
    def any(self) -> bool:
        return self.gold or self.silver or self.bronze


def medal_ranks(teams: int) -> tuple[int, int, int]:
    """The number of teams inside the gold, silver and bronze bands for a leaderboard of `teams`."""
    if teams <= 0:
        raise ValueError("a leaderboard needs at least one team")
    if teams < 100:
        gold, silver, bronze = math.floor(teams * 0.1), math.floor(teams * 0.2), math.floor(teams * 0.4)
    elif teams < 250:
        gold, silver, bronze = 10, math.floor(teams * 0.2), math.floor(teams * 0.4)
    elif teams < 1000:
        gold, silver, bronze = 10 + math.floor(teams * 0.002), 50, 100
    else:
        gold, silver, bronze = 10 + math.floor(teams * 0.002), math.floor(teams * 0.05), math.floor(teams * 0.1)
    return max(gold, 1), max(silver, 1), max(bronze, 1)


def medal_thresholds(scores: Sequence[float], *, is_lower_better: bool) -> MedalThresholds:
    """Thresholds from the leaderboard's scores; the direction comes from the competition, not the order."""
    clean = [float(s) for s in scores if s is not None and math.isfinite(float(s))]
    if not clean:
        raise ValueError("the leaderboard has no finite scores")
    ranked = sorted(clean, reverse=not is_lower_better)
    gold, silver, bronze = medal_ranks(len(ranked))
    ordered = sorted(clean)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return MedalThresholds(
        gold=ranked[gold - 1],
        silver=ranked[silver - 1],
        bronze=ranked[bronze - 1],
        median=median,
        teams=len(ranked),
    )


def medals_for(score: float, thresholds: MedalThresholds, *, is_lower_better: bool) -> Medals:
    """The medal a score earns: the best band it reaches, thresholds inclusive; above median strict."""

    def reaches(threshold: float) -> bool:
        return score <= threshold if is_lower_better else score >= threshold

    gold = reaches(thresholds.gold)
    silver = not gold and reaches(thresholds.silver)
    bronze = not gold and not silver and reaches(thresholds.bronze)
    above = score < thresholds.median if is_lower_better else score > thresholds.median
    return Medals(gold=gold, silver=silver, bronze=bronze, above_median=above)
