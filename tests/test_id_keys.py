"""The vectorised id match (mleredux/grading/id_keys.py): exact, or it declines and the general path decides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mleredux.errors import InvalidSubmissionError
from mleredux.grading.id_keys import MAX_ID_BYTES, id_index, id_keys
from mleredux.grading.submission import _arrow_text, match_ids

#: Lengths around every word boundary, multi-byte UTF-8, an empty id, and ids that differ only
#: past the first word, by a trailing NUL, or by one byte of a multi-byte character.
AWKWARD = [
    "",
    "a",
    "a\x00",
    "b",
    "abcdefg",
    "abcdefgh",
    "abcdefgh\x00",
    "abcdefghi",
    "abcdefghj",
    "abcdefghijklmnop",
    "abcdefghijklmnopq",
    "é",
    "è",
    "日本語のid",
    "x" * MAX_ID_BYTES,
]


def _text(values: list[str], chunk: int = 3) -> pa.ChunkedArray:
    return pa.chunked_array(
        [pa.array(values[i : i + chunk], pa.large_string()) for i in range(0, len(values), chunk)],
        type=pa.large_string(),
    )


def test_keys_are_equal_exactly_when_the_ids_are() -> None:
    keys = id_keys(_text(AWKWARD))
    assert keys is not None
    rows = {(int(length), *(int(w[i]) for w in keys.words)) for i, length in enumerate(keys.lengths)}
    assert len(rows) == len(AWKWARD)
    again = id_keys(_text(list(reversed(AWKWARD)), chunk=4), width=len(keys.words))
    assert again is not None
    assert keys.hashes().tolist() == list(reversed(again.hashes().tolist()))
    top = (keys.hashes() >> np.uint64(40)).tolist()
    assert len(set(top)) == len(AWKWARD)  # well spread high bits: no structural collision


@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_any_order_of_the_expected_ids_maps_each_to_its_row(chunk: int) -> None:
    index = id_index(_text(AWKWARD))
    assert index is not None
    shuffled = [AWKWARD[i] for i in np.random.default_rng(0).permutation(len(AWKWARD))]
    order = index.positions(_text(shuffled, chunk))
    assert order is not None
    assert [shuffled[i] for i in order] == AWKWARD


def test_sliced_chunks_are_read_from_their_own_offsets() -> None:
    index = id_index(_text(["p", "q", "r"]))
    assert index is not None
    sliced = pa.array(["zz", "r", "p", "q", "yy"], pa.large_string()).slice(1, 3)
    order = index.positions(pa.chunked_array([sliced]))
    assert order is not None
    assert order.tolist() == [1, 2, 0]


@pytest.mark.parametrize(
    "submitted",
    [
        ["a", "a", "b"],  # a repeat (and so one missing)
        ["a", "b"],  # one missing
        ["a", "b", "c", "d"],  # one extra
        ["a", "b", "cc"],  # an unknown id longer than any expected one
        ["a", "b", "d"],  # an unknown id of the same length
        ["a", "b", "c\x00"],  # differs only by a trailing NUL
    ],
)
def test_anything_but_the_expected_ids_once_each_is_declined(submitted: list[str]) -> None:
    index = id_index(_text(["a", "b", "c"]))
    assert index is not None
    assert index.positions(_text(submitted)) is None


def test_ids_sharing_a_home_slot_are_told_apart_by_their_bytes() -> None:
    ids = [f"id{i}" for i in range(500)]
    # 512 slots for 500 ids: most ids sit past their home slot, behind others.
    index = id_index(_text(ids, chunk=50), bits=9)
    assert index is not None
    assert int((index.table != np.uint64(2**64 - 1)).sum()) == len(ids)
    shuffled = [ids[i] for i in np.random.default_rng(3).permutation(len(ids))]
    order = index.positions(_text(shuffled))
    assert order is not None
    assert [shuffled[i] for i in order] == ids
    assert index.positions(_text([*ids[:-1], "id500"])) is None
    with pytest.raises(ValueError, match="cannot hold"):
        id_index(_text(ids), bits=8)


def test_nulls_and_long_ids_are_not_keyed() -> None:
    assert id_keys(pa.chunked_array([pa.array(["a", None], pa.large_string())])) is None
    assert id_index(_text(["x" * (MAX_ID_BYTES + 1)])) is None
    assert id_keys(_text(["abcdefghi"]), width=1) is None


def test_a_large_shuffled_submission_takes_the_fast_path_and_agrees_with_the_general_one() -> None:
    rng = np.random.default_rng(1)
    wanted = pd.Series([f"{s}_{t}" for s in range(2000) for t in range(int(rng.integers(1, 12)))])
    shuffled = wanted.sample(frac=1.0, random_state=2).reset_index(drop=True)
    text = _arrow_text(wanted)
    index = id_index(text)
    assert index is not None
    fast = index.positions(_arrow_text(shuffled))
    assert fast is not None
    general = match_ids(shuffled, wanted, "id", wanted_unique=False)
    assert fast.tolist() == general.tolist()
    assert match_ids(shuffled, wanted, "id", wanted_unique=True, wanted_text=text, wanted_index=index).tolist() == (
        general.tolist()
    )


def test_with_the_index_the_messages_are_the_general_paths() -> None:
    wanted = pd.Series([f"id{i}" for i in range(1000)])
    text = _arrow_text(wanted)
    index = id_index(text)
    shuffled = wanted.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cases = {
        "1 ids appear more than once: 'id5'": shuffled.where(shuffled != "id6", "id5"),
        "1 of 1000 ids are missing from the submission: 'id7'": shuffled[shuffled != "id7"],
        "1 ids are not in the test set: 'nope'": pd.concat([shuffled, pd.Series(["nope"])]),
    }
    for message, submitted in cases.items():
        with pytest.raises(InvalidSubmissionError, match=message):
            match_ids(
                submitted.reset_index(drop=True),
                wanted,
                "id",
                wanted_unique=True,
                wanted_text=text,
                wanted_index=index,
            )


def test_empty_ids_and_other_string_types() -> None:
    index = id_index(_text(["", "a"], chunk=1))
    assert index is not None
    order = index.positions(pa.chunked_array([pa.array(["a"], pa.large_string()), pa.array([""], pa.large_string())]))
    assert order is not None
    assert order.tolist() == [1, 0]
    assert id_keys(pa.chunked_array([pa.array(["a"], pa.string())])) is None  # 32-bit offsets: not read as 64
