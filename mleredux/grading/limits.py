"""Bounds on what a submission may make the grader spend, checked before the CSV is parsed.

A submission is refused, with an invalid reason that names the bound, when it is larger, longer or
wider than any honest submission for the competition can be. The bounds derive from what the grader
expects (the rows and columns of the answers and the sample), so they scale with the competition:

- **rows**: more lines than `rows_factor` x the expected rows + `rows_slack` (lines are counted
  streamingly, so a quoted line break counts as a line: the bound is generous for that reason);
- **bytes**: more than the row bound x (the reference file's bytes per row + `bytes_per_value` per
  column), or more than `max_bytes` whatever the competition;
- **columns**: a header with more than `columns_factor` x the sample's columns + `columns_slack`,
  or longer than `header_bytes_per_column` bytes per allowed column.

Parsing is then bounded by the file's size (Arrow and pandas need a small multiple of it), so the
grader's memory is a small multiple of what it is given. See docs/limits.md, "Grader".
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mleredux.errors import InvalidSubmissionError

MIB = 1 << 20
#: How much of the file is read at a time while counting lines.
CHUNK_BYTES = MIB
#: Submissions stored compressed (the CLI's `grade-sample` of a zipped sample) are bounded by size only.
COMPRESSED_SUFFIXES = frozenset({".zip", ".gz", ".bz2", ".xz", ".zst", ".tar"})


@dataclass(frozen=True)
class SubmissionLimits:
    """What one submission may spend; the defaults are the grader service's and the CLI's."""

    #: A ceiling on any submission's size, whatever the competition.
    max_bytes: int = 2048 * MIB
    #: Lines allowed, as a multiple of the rows the grader expects ...
    rows_factor: float = 2.0
    #: ... plus this many (tiny test sets, trailing blank lines).
    rows_slack: int = 1000
    #: Bytes a value may take beyond the reference's own rows (a float's 17 digits, a longer word).
    bytes_per_value: int = 64
    #: Bytes always allowed, whatever the expected size.
    min_bytes: int = 4 * MIB
    #: Columns allowed, as a multiple of the sample's columns ...
    columns_factor: float = 2.0
    #: ... plus this many.
    columns_slack: int = 16
    #: Bytes a header may spend per allowed column (long class names included).
    header_bytes_per_column: int = 256

    def row_limit(self, expected_rows: int) -> int:
        return int(expected_rows * self.rows_factor) + self.rows_slack

    def column_limit(self, expected_columns: int) -> int:
        return int(expected_columns * self.columns_factor) + self.columns_slack

    def byte_limit(self, expected_rows: int, reference_row_bytes: float, expected_columns: int) -> int:
        per_row = reference_row_bytes + self.bytes_per_value * expected_columns
        derived = int(self.row_limit(expected_rows) * per_row) + self.min_bytes
        return min(derived, self.max_bytes)


@dataclass(frozen=True)
class Expected:
    """What the grader expects of a submission: rows, columns (id included), and a reference row's size."""

    rows: int
    columns: int
    reference_row_bytes: float


def reference_row_bytes(path: Path, rows: int) -> float:
    """The average bytes per row of a reference CSV (the sample, or the answers), 0 when unknown."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0.0
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return 0.0
    return size / max(rows, 1)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK_BYTES):
        yield chunk


def _line_breaks(chunk: bytes) -> int:
    """How many b"\\n" the chunk holds (numpy's vectorised compare is ~7x `bytes.count` on this)."""
    return int(np.count_nonzero(np.frombuffer(chunk, dtype=np.uint8) == 10))


def _header_columns(line: bytes) -> int:
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return len(next(csv.reader(io.StringIO(text)), []))


def check_bounds(
    source: Path | bytes, expected: Expected, limits: SubmissionLimits, digest: hashlib._Hash | None = None
) -> bool:
    """Refuse a submission beyond the bounds, reading at most one chunk at a time and no parse.

    Raises InvalidSubmissionError naming the bound (size, columns or rows) and its value. `digest`,
    when given, is fed every byte read, so a caller that wants the file's hash needs no second pass;
    returns True when it was fed the whole file.
    """
    byte_limit = limits.byte_limit(expected.rows, expected.reference_row_bytes, expected.columns)
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    if size > byte_limit:
        raise InvalidSubmissionError(
            f"submission too large: {size:,} bytes, at most {byte_limit:,} accepted for "
            f"{expected.rows:,} expected rows of {expected.columns} columns"
        )
    if isinstance(source, Path) and source.suffix.lower() in COMPRESSED_SUFFIXES:
        return False
    column_limit = limits.column_limit(expected.columns)
    header_limit = column_limit * limits.header_bytes_per_column
    row_limit = limits.row_limit(expected.rows)
    with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as handle:
        header = handle.readline(header_limit + 1)
        if digest is not None:
            digest.update(header)
        if len(header) > header_limit and not header.endswith(b"\n"):
            raise InvalidSubmissionError(
                f"too many columns: the header line is longer than {header_limit:,} bytes "
                f"({expected.columns} columns expected, at most {column_limit} accepted)"
            )
        columns = _header_columns(header)
        if columns > column_limit:
            raise InvalidSubmissionError(
                f"too many columns: the header has {columns:,}, at most {column_limit} accepted "
                f"({expected.columns} expected)"
            )
        lines = 0
        last = header
        for chunk in _chunks(handle):
            if digest is not None:
                digest.update(chunk)
            lines += _line_breaks(chunk)
            last = chunk
            if lines > row_limit:
                raise InvalidSubmissionError(
                    f"too many rows: more than {row_limit:,} lines after the header, {expected.rows:,} rows expected"
                )
        if last and not last.endswith(b"\n") and last is not header:
            lines += 1  # a last row without a line break
        if lines > row_limit:
            raise InvalidSubmissionError(
                f"too many rows: {lines:,} lines after the header, at most {row_limit:,} accepted "
                f"({expected.rows:,} rows expected)"
            )
    return digest is not None
