"""Medal thresholds by Kaggle's four team-count bands, at the band edges, in both directions."""

from __future__ import annotations

import pytest

from mleredux.grading.medals import leaderboard_score, medal_ranks, medal_thresholds, medals_for


@pytest.mark.parametrize(
    "teams,expected",
    [
        (1, (1, 1, 1)),
        (9, (1, 1, 3)),
        (99, (9, 19, 39)),
        (100, (10, 20, 40)),
        (249, (10, 49, 99)),
        (250, (10, 50, 100)),
        (999, (11, 50, 100)),
        (1000, (12, 50, 100)),
        (4321, (18, 216, 432)),
    ],
)
def test_medal_ranks_follow_the_bands(teams: int, expected: tuple[int, int, int]) -> None:
    assert medal_ranks(teams) == expected


@pytest.mark.parametrize("teams", [99, 100, 249, 250, 999, 1000])
@pytest.mark.parametrize("lower_is_better", [False, True])
def test_thresholds_are_the_scores_at_the_band_edges(teams: int, lower_is_better: bool) -> None:
    # Scores 1..N; the best team is N when higher is better, 1 when lower is better.
    scores = [float(s) for s in range(1, teams + 1)]
    thresholds = medal_thresholds(list(reversed(scores)), is_lower_better=lower_is_better)
    gold, silver, bronze = medal_ranks(teams)
    if lower_is_better:
        assert (thresholds.gold, thresholds.silver, thresholds.bronze) == (gold, silver, bronze)
    else:
        assert (thresholds.gold, thresholds.silver, thresholds.bronze) == (
            teams - gold + 1,
            teams - silver + 1,
            teams - bronze + 1,
        )
    # Inclusive at each threshold, exclusive across medals.
    for value, medal in ((thresholds.gold, "gold"), (thresholds.silver, "silver"), (thresholds.bronze, "bronze")):
        won = medals_for(value, thresholds, is_lower_better=lower_is_better)
        assert [won.gold, won.silver, won.bronze].count(True) == 1
        assert getattr(won, medal)
    step = 0.5 if lower_is_better else -0.5
    just_outside = medals_for(thresholds.bronze + step, thresholds, is_lower_better=lower_is_better)
    assert not just_outside.any


def test_direction_comes_from_metadata_not_leaderboard_order() -> None:
    ascending = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    higher = medal_thresholds(ascending, is_lower_better=False)
    lower = medal_thresholds(list(reversed(ascending)), is_lower_better=True)
    assert higher.gold == 1.0 and lower.gold == 0.1


def test_above_median_is_strict() -> None:
    thresholds = medal_thresholds([1.0, 2.0, 3.0, 4.0, 5.0], is_lower_better=False)
    assert thresholds.median == 3.0
    assert not medals_for(3.0, thresholds, is_lower_better=False).above_median
    assert medals_for(3.01, thresholds, is_lower_better=False).above_median
    assert medals_for(2.99, thresholds, is_lower_better=True).above_median


def test_an_empty_leaderboard_is_refused() -> None:
    with pytest.raises(ValueError, match="no finite scores"):
        medal_thresholds([float("nan")], is_lower_better=False)


@pytest.mark.parametrize(
    "score,lower_is_better,board",
    [
        # Higher is better: 0.8715767 is 0.87158 on the board, so it reaches a gold of 0.87158.
        (0.8715767, False, [0.87158, 0.8715, 0.8714, 0.8713, 0.8712, 0.8711, 0.871, 0.87, 0.86, 0.85]),
        # Lower is better: 0.2345649 is 0.23456 on the board, the gold itself.
        (0.2345649, True, [0.23456, 0.2346, 0.2347, 0.2348, 0.2349, 0.235, 0.236, 0.237, 0.238, 0.239]),
    ],
)
def test_a_score_is_ranked_at_the_leaderboards_precision(
    score: float, lower_is_better: bool, board: list[float]
) -> None:
    thresholds = medal_thresholds(board, is_lower_better=lower_is_better)
    assert thresholds.gold == board[0]
    assert not medals_for(score, thresholds, is_lower_better=lower_is_better).gold  # unrounded it misses gold
    rounded = leaderboard_score(score)
    assert rounded == board[0]
    won = medals_for(rounded, thresholds, is_lower_better=lower_is_better)
    assert won.gold and not won.silver and not won.bronze


def test_leaderboard_precision_rounds_half_to_even_on_the_double() -> None:
    # Python's round on the double's exact value, as MLE-bench rounds: 0.123455 is stored just below.
    assert leaderboard_score(0.123455) == round(0.123455, 5) == 0.12345
    assert leaderboard_score(0.5) == 0.5 and leaderboard_score(-0.0000001) == 0.0
