"""Finding and reading a competition's files: description, sample submission, train and test tables.

The sample submission defines the answer's shape: its id column is the one whose values are the test
rows' ids, columns also present in the test table are copied through unchanged (e.g. a `Date` beside
a text id), and the remaining columns are what must be predicted.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: At most this many training rows are read; bigger files are sampled evenly while reading.
MAX_TRAIN_ROWS = 1_000_000
#: Bytes of memory planned per training cell: the table, the float32 features, and a model's float64
#: copy of them (gradient boosting makes one) with room to spare.
BYTES_PER_CELL = 16
#: The share of the memory limit the training cells may take.
MEMORY_SHARE = 0.4
TABLE_SUFFIXES = (".csv", ".json", ".jsonl", ".csv.zip", ".json.zip", ".zip", ".csv.gz")


class NotUnderstood(Exception):
    """The data does not fit anything this agent knows how to model; it falls back to the sample."""


@dataclass
class CompetitionData:
    description: str
    sample_path: Path
    #: The sample submission read as text, so ids and pass-through columns are written back unchanged.
    sample: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame
    #: The test rows' ids as text, in the test table's row order.
    test_ids: pd.Series
    id_column: str
    #: The id column's name in the test table (None: the sample lists the test rows in their order).
    test_id_column: str | None
    targets: list[str]
    passthrough: list[str]
    train_file: Path
    test_file: Path
    train_rows_in_file: int


def find_sample(data_dir: Path) -> Path:
    """The sample submission: a CSV whose name says "sample" (preferring "submission" too)."""
    csvs = [p for p in data_dir.iterdir() if p.is_file() and p.name.lower().endswith(".csv")]
    samples = [p for p in csvs if "sample" in p.name.lower()]
    if not samples:
        raise FileNotFoundError(f"no sample submission (a *sample*.csv) in {data_dir}")
    samples.sort(key=lambda p: ("submission" not in p.name.lower(), len(p.name), p.name))
    return samples[0]


def find_table(data_dir: Path, stem: str) -> Path | None:
    """`train.csv`, `train.json`, `train.csv.zip`, ... whichever exists first in that order."""
    by_name = {p.name.lower(): p for p in data_dir.iterdir() if p.is_file()}
    for suffix in TABLE_SUFFIXES:
        found = by_name.get(stem + suffix)
        if found is not None:
            return found
    return None


def read_description(data_dir: Path) -> str:
    for name in ("description.md", "description.txt", "README.md"):
        path = data_dir / name
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace")
    return ""


def _json_frame(raw: bytes) -> pd.DataFrame:
    text = raw.decode("utf-8", errors="replace").strip()
    if text.startswith("["):
        records = json.loads(text)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise NotUnderstood("a JSON table must be a list of objects")
        return pd.DataFrame.from_records(records)
    return pd.DataFrame.from_records([json.loads(line) for line in text.splitlines() if line.strip()])


def _zip_member(path: Path) -> tuple[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        members = [n for n in archive.namelist() if n.lower().endswith((".csv", ".json", ".jsonl"))]
        if len(members) != 1:
            raise NotUnderstood(f"{path.name} holds {len(members)} tables; expected one")
        return members[0], archive.read(members[0])


def _estimated_rows(path: Path) -> int:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    lines = max(1, head.count(b"\n"))
    return int(size / (len(head) / lines)) if head else 0


def _shrink(frame: pd.DataFrame) -> pd.DataFrame:
    """Smallest integer types and float32: a wide table of small counts takes a quarter of the memory."""
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_integer_dtype(series):
            frame[column] = pd.to_numeric(series, downcast="integer")
        elif pd.api.types.is_float_dtype(series):
            frame[column] = series.astype(np.float32)
    return frame


def _unchanged(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def max_train_rows(path: Path, memory_bytes: int) -> int:
    """How many training rows fit the memory limit, judged by the table's width."""
    columns = 50
    if path.name.lower().endswith(".csv"):
        with open(path, encoding="utf-8", errors="replace") as handle:
            columns = max(1, handle.readline().count(",") + 1)
    fitting = int(memory_bytes * MEMORY_SHARE / (columns * BYTES_PER_CELL))
    return max(20_000, min(MAX_TRAIN_ROWS, fitting))


def read_table(
    path: Path, *, max_rows: int | None = None, seed: int = 0, shrink: bool = True
) -> tuple[pd.DataFrame, int]:
    """The table and how many rows its file holds; with `max_rows`, a big CSV is sampled while read.
    `shrink=False` keeps pandas' own dtypes (analyses that report exact statistics want them)."""
    narrow = _shrink if shrink else _unchanged
    name = path.name.lower()
    if name.endswith(".zip"):
        member, raw = _zip_member(path)
        if member.lower().endswith(".csv"):
            frame = pd.read_csv(io.BytesIO(raw), low_memory=False)
        else:
            frame = _json_frame(raw)
        return frame, len(frame)
    if name.endswith((".json", ".jsonl")):
        frame = _json_frame(path.read_bytes())
        return frame, len(frame)
    if max_rows is not None and name.endswith(".csv") and _estimated_rows(path) > max_rows * 1.2:
        rng = np.random.default_rng(seed)
        fraction = max_rows / _estimated_rows(path)
        parts, total = [], 0
        for chunk in pd.read_csv(path, chunksize=200_000, low_memory=False):
            total += len(chunk)
            parts.append(narrow(chunk[rng.random(len(chunk)) < fraction].copy()))
        return pd.concat(parts, ignore_index=True), total
    frame = narrow(pd.read_csv(path, low_memory=False))
    return frame, len(frame)


def read_ids(path: Path, column: str, frame: pd.DataFrame) -> pd.Series:
    """The id column as the exact text in the file (no NA guessing, no float conversion)."""
    if path.name.lower().endswith(".csv"):
        ids = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column]
    else:
        ids = frame[column].map(lambda v: "" if v is None else str(v))
    return ids.astype(object).reset_index(drop=True)


def _column_lookup(columns: Any) -> dict[str, str]:
    return {str(c).lower(): str(c) for c in columns}


def load(data_dir: Path, memory_bytes: int) -> CompetitionData:
    """Reads everything the model needs, sampling a training table too big for `memory_bytes`;
    raises NotUnderstood when the layout is unfamiliar."""
    sample_path = find_sample(data_dir)
    sample = pd.read_csv(sample_path, dtype=str, keep_default_na=False)
    if sample.shape[1] < 2 or len(sample) == 0:
        raise NotUnderstood(f"{sample_path.name} has {sample.shape[1]} columns and {len(sample)} rows")
    train_file, test_file = find_table(data_dir, "train"), find_table(data_dir, "test")
    if train_file is None or test_file is None:
        raise NotUnderstood(f"no train and test tables in {data_dir} (found train={train_file}, test={test_file})")
    test, _ = read_table(test_file)
    test_columns = _column_lookup(test.columns)

    id_column, test_id_column, test_ids = "", None, None
    wanted = set(sample.iloc[:, 0]) if len(sample.columns) else set()
    for column in sample.columns:
        name = test_columns.get(column.lower())
        if name is None:
            continue
        ids = read_ids(test_file, name, test)
        if set(sample[column]) <= set(ids) or (column == sample.columns[0] and wanted & set(ids)):
            id_column, test_id_column, test_ids = column, name, ids
            break
    if test_ids is None:
        if len(sample) != len(test):
            raise NotUnderstood(
                f"no column of {sample_path.name} names the test rows, and it has {len(sample)} rows "
                f"for {len(test)} test rows"
            )
        # The sample lists the test rows in order, under an id of its own.
        id_column, test_ids = str(sample.columns[0]), sample.iloc[:, 0].astype(object).reset_index(drop=True)

    passthrough = [c for c in sample.columns if c != id_column and c.lower() in test_columns]
    targets = [c for c in sample.columns if c != id_column and c not in passthrough]
    if not targets:
        raise NotUnderstood(f"every column of {sample_path.name} is also in {test_file.name}: nothing to predict")

    train, rows_in_file = read_table(train_file, max_rows=max_train_rows(train_file, memory_bytes))
    return CompetitionData(
        description=read_description(data_dir),
        sample_path=sample_path,
        sample=sample,
        train=train,
        test=test,
        test_ids=test_ids,
        id_column=id_column,
        test_id_column=test_id_column,
        targets=targets,
        passthrough=passthrough,
        train_file=train_file,
        test_file=test_file,
        train_rows_in_file=rows_in_file,
    )
