"""new-york-city-taxi-fare-prediction: the fare of a New York taxi ride; RMSE.

Split (as MLE-bench documents it): Kaggle's labelled `train.csv` (about 55 million rows) is split
with `train_test_split(test_size=9914, random_state=0)` in file order; the 9,914 held-out rows (the
size of Kaggle's own test set) become the test set. The answers are the whole test rows
(`fare_amount` included); the public `test.csv` drops `fare_amount`; the sample submission
predicts $11.35 (the training mean Kaggle's own sample uses) for every `key`.
`GCP-Coupons-Instructions.rtf` is copied to public as MLE-bench does. Kaggle's own `test.csv` is
not used (it has no labels).

The file is too large to split in memory on a modest machine (MLE-bench loads it whole with
pandas), so the split is streamed: the row indices come from `train_test_split` itself on
`range(n)`, the rows are copied byte for byte (Kaggle's file has no quoted fields) and the train
rows are written in the split's shuffled order through on-disk buckets. The rows and their order
are MLE-bench's; only number formatting differs (the raw text is kept, where MLE-bench re-prints
the numbers pandas parsed, e.g. `0` becomes `0.0`), which changes no score.

Deliberate difference from MLE-bench: the public training file is `train.csv`, as Kaggle and
MLE-bench's own description name it; MLE-bench writes it as `labels.csv` while its description
says `train.csv`.
"""

from __future__ import annotations

import io
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.lite._images import raw_file
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import rmse

TARGET = "fare_amount"
TEST_ROWS = 9914
SEED = 0
#: The prediction of MLE-bench's (and Kaggle's) sample submission.
SAMPLE_FARE = 11.35
COUPONS = "GCP-Coupons-Instructions.rtf"
#: Train rows per on-disk bucket (about 200 MB of text each) while the shuffled train is written.
BUCKET_ROWS = 2_000_000
#: Rows read at a time while routing rows to their bucket.
BATCH_ROWS = 500_000

DESCRIPTION = """\
# New York City Taxi Fare Prediction

Each row of `train.csv` is a taxi ride in New York City: when it started, where it was picked up
and dropped off (longitude and latitude), how many passengers it carried, and its fare in
dollars, tolls included. For each ride of `test.csv`, predict `fare_amount`.

## Files
- `train.csv`: `key`, `fare_amount`, `pickup_datetime`, `pickup_longitude`, `pickup_latitude`,
  `dropoff_longitude`, `dropoff_latitude`, `passenger_count` (about 55 million rows; the data
  is raw, so expect missing and implausible values).
- `test.csv`: the same columns without `fare_amount` (9,914 rows).
- `sample_submission.csv`: `key,fare_amount`, one row per test ride (every prediction $11.35).
- `GCP-Coupons-Instructions.rtf`: a leftover of the original competition (cloud credits).

`key` identifies a ride: it is the pickup time followed by a unique number; use it only as an id.

## Evaluation
Root mean squared error between the predicted and the actual fares, in dollars (lower is better).
"""


def _rows(handle: BinaryIO) -> Iterator[bytes]:
    """The non-blank lines of a CSV, without their line ends (pandas skips blank lines too)."""
    for line in handle:
        row = line.rstrip(b"\r\n")
        if row:
            yield row


def split_train_csv(
    source: Path, train_target: Path, scratch: Path, *, bucket_rows: int = BUCKET_ROWS
) -> tuple[bytes, list[bytes]]:
    """Split `source` as `train_test_split(test_size=TEST_ROWS, random_state=SEED)` splits its rows.

    Writes the header and the train rows, in the split's order, to `train_target`; returns the
    header and the test rows in the split's order. Memory stays at a few bytes per row plus one
    bucket of rows; `scratch` holds the buckets meanwhile.
    """
    with source.open("rb") as handle:
        rows = _rows(handle)
        header = next(rows, None)
        if header is None:
            raise RawFileMissingError(f"{source} is empty")
        count = sum(1 for _ in rows)
    if count <= TEST_ROWS:
        raise RawFileMissingError(
            f"{source} has {count} rows; at least {TEST_ROWS + 1} are needed to hold out {TEST_ROWS}"
        )
    train_index, test_index = train_test_split(np.arange(count), test_size=TEST_ROWS, random_state=SEED)
    # Where each raw row goes: its position in the train (>= 0), or -1 - its position in the test.
    destination = np.empty(count, dtype=np.int64)
    destination[train_index] = np.arange(len(train_index))
    destination[test_index] = -1 - np.arange(len(test_index))
    n_train = len(train_index)
    del train_index, test_index
    n_buckets = max(1, -(-n_train // bucket_rows))
    test_rows: list[bytes] = [b""] * TEST_ROWS
    scratch.mkdir(parents=True, exist_ok=True)
    row_paths = [scratch / f"bucket-{b}.rows" for b in range(n_buckets)]
    position_paths = [scratch / f"bucket-{b}.positions" for b in range(n_buckets)]
    with ExitStack() as stack, source.open("rb") as handle:
        row_files = [stack.enter_context(p.open("wb")) for p in row_paths]
        position_files = [stack.enter_context(p.open("wb")) for p in position_paths]
        rows = _rows(handle)
        next(rows)
        start = 0
        while batch := list(itertools.islice(rows, BATCH_ROWS)):
            if start + len(batch) > count:
                raise RawFileMissingError(f"{source} changed while it was being split")
            joined = b"".join(batch)
            if b'"' in joined and any(row.count(b'"') % 2 for row in batch):
                raise RawFileMissingError(
                    f"{source} has a quoted field holding a line break; rows cannot be split by lines"
                )
            where = destination[start : start + len(batch)]
            start += len(batch)
            for i in np.flatnonzero(where < 0):
                test_rows[-1 - int(where[i])] = batch[i]
            train_at = np.flatnonzero(where >= 0)
            buckets = where[train_at] // bucket_rows
            order = np.argsort(buckets, kind="stable")
            train_at, buckets = train_at[order], buckets[order]
            bounds = np.flatnonzero(np.diff(buckets)) + 1
            for group in np.split(np.arange(len(train_at)), bounds):
                if not len(group):
                    continue
                bucket = int(buckets[group[0]])
                chosen = train_at[group]
                row_files[bucket].write(b"".join(batch[k] + b"\n" for k in chosen))
                where[chosen].astype(np.int64).tofile(position_files[bucket])
        if start != count:
            raise RawFileMissingError(f"{source} changed while it was being split")
    del destination
    with train_target.open("wb") as out:
        out.write(header + b"\n")
        for bucket in range(n_buckets):
            bucket_text = row_paths[bucket].read_bytes().split(b"\n")[:-1]
            positions = np.fromfile(position_paths[bucket], dtype=np.int64)
            order = np.argsort(positions)
            expected = np.arange(bucket * bucket_rows, min((bucket + 1) * bucket_rows, n_train))
            if len(positions) != len(expected) or not np.array_equal(positions[order], expected):
                raise RawFileMissingError(f"{source} changed while it was being split")
            out.write(b"".join(bucket_text[k] + b"\n" for k in order))
            row_paths[bucket].unlink()
            position_paths[bucket].unlink()
    return header, test_rows


class NewYorkCityTaxiFarePrediction(Competition):
    info = supported_entry("new-york-city-taxi-fare-prediction")
    id_column = "key"
    target_columns = (TARGET,)
    answer_columns = (TARGET,)

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        source = raw_file(raw, "train.csv")
        scratch = Path(tempfile.mkdtemp(prefix=".taxi-split-", dir=public.parent))
        try:
            header, test_rows = split_train_csv(source, public / "train.csv", scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        answers_text = b"\n".join([header, *test_rows]) + b"\n"
        (private / "test.csv").write_bytes(answers_text)
        test = pd.read_csv(io.BytesIO(answers_text), dtype=str, keep_default_na=False)
        if "key" not in test.columns or TARGET not in test.columns:
            raise RawFileMissingError(f"{source} lacks the columns 'key' and {TARGET!r} (it has {list(test.columns)})")
        test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
        test[["key"]].assign(**{TARGET: SAMPLE_FARE}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        try:
            shutil.copyfile(raw.path(COUPONS), public / COUPONS)
        except RawFileMissingError:
            pass  # an informational leftover; its absence changes nothing

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return rmse(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(NewYorkCityTaxiFarePrediction())
