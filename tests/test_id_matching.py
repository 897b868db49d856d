"""Matching submission rows to the answers by id: the in-order fast path and the hashed path agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mleredux.errors import InvalidSubmissionError
from mleredux.grading.submission import match_ids

WANTED = pd.Series([f"id{i}" for i in range(1000)])


@pytest.mark.parametrize("unique", [True, False])
def test_rows_in_the_answers_order_or_shuffled_map_to_their_positions(unique: bool) -> None:
    assert (match_ids(WANTED.copy(), WANTED, "id", wanted_unique=unique) == np.arange(1000)).all()
    shuffled = WANTED.sample(frac=1.0, random_state=0).reset_index(drop=True)
    order = match_ids(shuffled, WANTED, "id", wanted_unique=unique)
    assert (shuffled.to_numpy()[order] == WANTED.to_numpy()).all()


def test_an_in_order_submission_with_one_wrong_id_is_refused_by_name() -> None:
    wrong = WANTED.copy()
    wrong[7] = "nope"
    with pytest.raises(InvalidSubmissionError, match=r"1 of 1000 ids are missing from the submission: 'id7'"):
        match_ids(wrong, WANTED, "id", wanted_unique=True)


def test_answers_that_repeat_an_id_map_it_to_one_submission_row() -> None:
    wanted = pd.Series(["a", "b", "a", "c"])
    order = match_ids(pd.Series(["c", "a", "b"]), wanted, "id", wanted_unique=False)
    assert order.tolist() == [1, 2, 1, 0]
    with pytest.raises(InvalidSubmissionError, match="1 ids appear more than once: 'a'"):
        match_ids(pd.Series(["a", "b", "a", "c", "a"]), wanted, "id", wanted_unique=False)  # 3 times, not 2


def test_an_id_the_answers_repeat_may_be_repeated_as_often_and_rows_pair_in_order() -> None:
    # MLE-bench's detecting-insults sample has one row per answer row, a repeated comment included.
    wanted = pd.Series(["a", "b", "a", "c", "a"])
    submitted = pd.Series(["c", "a", "b", "a", "a"])
    assert match_ids(submitted, wanted, "id", wanted_unique=False).tolist() == [1, 2, 3, 0, 4]
    with pytest.raises(InvalidSubmissionError, match="1 ids appear more than once: 'a'"):
        match_ids(pd.Series(["c", "a", "b", "a"]), wanted, "id", wanted_unique=False)  # twice, not three times
