"""Paired bootstrap comparison of two evaluations."""

from __future__ import annotations

import pytest

from mleredux.errors import InvalidArgumentError
from mleredux.evaluation.aggregate import Aggregate, Outcome, aggregate_of
from mleredux.evaluation.compare import Comparison, Difference, compare

IDS = [f"c{i:02d}" for i in range(20)]


def evaluation(medalled: set[str], seeds: int = 3, *, flaky: dict[tuple[str, int], bool] | None = None) -> Aggregate:
    outcomes = []
    for cid in IDS:
        for seed in range(1, seeds + 1):
            medal = (flaky or {}).get((cid, seed), cid in medalled)
            outcomes.append(Outcome(cid, seed, gold_medal=medal, submission_exists=True, valid_submission=True))
    return aggregate_of(IDS, seeds, outcomes)


def by_figure(comparison: Comparison) -> dict[str, Difference]:
    return {d.figure: d for d in comparison.differences}


def test_a_clear_improvement_is_distinguishable_from_zero() -> None:
    a = evaluation(set(IDS[:5]))
    b = evaluation(set(IDS[:15]))
    any_medal = by_figure(compare(a, b))["any_medal"]
    assert (any_medal.a, any_medal.b, any_medal.difference) == (25.0, 75.0, 50.0)
    assert 0 < any_medal.ci_lower < 50 < any_medal.ci_upper
    assert any_medal.excludes_zero
    valid = by_figure(compare(a, b))["valid_submission"]
    assert (valid.difference, valid.ci_lower, valid.ci_upper, valid.excludes_zero) == (0.0, 0.0, 0.0, False)


def test_the_same_evaluation_differs_by_nothing() -> None:
    a = evaluation(set(IDS[:7]))
    for d in compare(a, a).differences:
        assert d.difference == 0.0 and d.ci_lower == 0.0 and d.ci_upper == 0.0 and not d.excludes_zero


def test_a_one_seed_fluke_is_not_distinguishable() -> None:
    a = evaluation(set(IDS[:5]))
    b = evaluation(set(IDS[:5]), flaky={("c10", 2): True})
    gold = by_figure(compare(a, b))["gold_medal"]
    assert gold.difference == pytest.approx(100 / 60)
    assert gold.ci_lower <= 0 <= gold.ci_upper and not gold.excludes_zero


def test_deterministic_for_a_seed_and_paired_by_competition() -> None:
    a = evaluation(set(IDS[:6]), flaky={("c07", 1): True, ("c09", 3): True})
    b = evaluation(set(IDS[2:10]), seeds=2)
    first, again = compare(a, b, rng_seed=5), compare(a, b, rng_seed=5)
    assert first == again
    other = compare(a, b, rng_seed=6)
    assert by_figure(other)["gold_medal"].difference == by_figure(first)["gold_medal"].difference
    assert (first.competitions, first.seeds_a, first.seeds_b) == (20, 3, 2)


def test_different_sets_cannot_be_paired() -> None:
    a = evaluation(set())
    b = aggregate_of(["c00", "other"], 1, [])
    with pytest.raises(InvalidArgumentError, match="only in B: other"):
        compare(a, b)
    with pytest.raises(InvalidArgumentError, match="resamples"):
        compare(a, a, resamples=0)
