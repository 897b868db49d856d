"""Grading a submission against the answers, and format-only validation against the public sample.

Rows are matched by id and columns by name, never by position. Everything wrong with a submission
raises `InvalidSubmissionError` with a message that names the problem; anything else that goes wrong
while scoring is the grader's fault and raises `GraderError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import threading
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mleredux.competitions import Competition, get_competition
from mleredux.errors import CompetitionNotSupportedError, GraderError, InvalidSubmissionError, NotPreparedError
from mleredux.grading.id_keys import IdIndex, id_index
from mleredux.grading.limits import Expected, SubmissionLimits, check_bounds, reference_row_bytes
from mleredux.grading.medals import leaderboard_score, medal_thresholds, medals_for
from mleredux.grading.report import GradeReport
from mleredux.grading.report_builders import record_score, ungraded_report
from mleredux.store import sha256_file

# Arrow's default allocator (mimalloc) keeps freed memory for reuse; a grader reads a few large
# files once and then idles, so the system allocator, which returns memory, suits it better
# (a third less peak memory on a million-row submission, at no measurable cost in speed).
pa.set_memory_pool(pa.system_memory_pool())

#: Exact float parsing (the nearest double), as Arrow's reader and MLE-bench's `read_csv` parse: the
#: default of pandas >= 3 (which deprecates the option), asked for explicitly on pandas 2.
EXACT_FLOATS: dict[str, Any] = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
#: How many offending ids a message names before it only counts them.
SHOWN_IDS = 5
#: How many column names a message lists before it only counts them.
SHOWN_COLUMNS = 10
#: Rows of the sample submission read to learn its columns' dtypes when grading.
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class ValidationResult:
    """The answer of a format check: never a score, never text derived from the answers."""

    valid: bool
    message: str


@dataclass(frozen=True)
class SubmissionFormat:
    """What a submission must look like: the id column, the expected ids and the target columns."""

    id_column: str
    ids: pd.Series
    columns: tuple[str, ...]
    numeric_columns: frozenset[str]
    #: The competition's target columns the sample does not have: allowed in a submission, never scored.
    ignored_columns: tuple[str, ...] = ()
    #: True when no expected id repeats (known once the answers are parsed); enables the in-order fast path.
    ids_unique: bool = False
    #: The expected ids as Arrow text, made once per answers file.
    ids_text: pa.ChunkedArray | None = None
    #: The expected ids keyed for the vectorised match (distinct, short ids only), made once per answers file.
    ids_index: IdIndex | None = None


def _examples(values: Iterable[Any], total: int | None = None) -> str:
    """The first few values, and how many more there are (of `total`, when only a head is given)."""
    items = list(values)
    count = len(items) if total is None else total
    shown = ", ".join(repr(v) for v in items[:SHOWN_IDS])
    return shown + (f", … ({count - SHOWN_IDS} more)" if count > SHOWN_IDS else "")


def _columns_text(columns: Sequence[str]) -> str:
    """A list of column names for a message: all of them when few, else the first few and a count."""
    if len(columns) <= SHOWN_COLUMNS:
        return str(list(columns))
    shown = ", ".join(repr(c) for c in columns[:SHOWN_COLUMNS])
    return f"[{shown}, … ({len(columns) - SHOWN_COLUMNS} more)]"


def _read_options(competition: Competition, id_column: str) -> dict[str, Any]:
    options: dict[str, Any] = dict(competition.read_csv_options)
    options["dtype"] = {**dict(options.get("dtype", {})), id_column: str}
    return options


def _read_csv(source: Path | IO[bytes], options: dict[str, Any]) -> pd.DataFrame:
    """Arrow's CSV reader when it can (a plain file, options it knows), pandas' C reader otherwise.

    Arrow reads a large file several times faster into about half the memory. It is stricter (a
    quoted line break, options it lacks): any refusal falls back to the C reader, whose verdict,
    error included, is then the one that counts.
    """
    if isinstance(source, Path) and source.suffix == ".csv" and "nrows" not in options:
        try:
            return pd.read_csv(source, engine="pyarrow", **options)
        except (ValueError, TypeError, pa.ArrowException):
            pass
    return pd.read_csv(source, **EXACT_FLOATS, **options)


def load_submission(source: Path | IO[bytes], competition: Competition) -> pd.DataFrame:
    """Read a submission CSV with ids as text; a file pandas cannot parse is an invalid submission."""
    try:
        frame = _read_csv(source, _read_options(competition, competition.id_column))
    except pd.errors.EmptyDataError:
        raise InvalidSubmissionError("the submission is empty (no header and no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidSubmissionError(f"the submission is not a readable CSV: {exc}".strip()) from None
    return frame


def read_answers(path: Path, competition: Competition) -> pd.DataFrame:
    """The answers (or the public sample), ids as text, read the way submissions are read."""
    id_column = competition.answers_id_column or competition.id_column
    options = _read_options(competition, id_column)
    if competition.answer_columns is not None:
        options["usecols"] = [id_column, *competition.answer_columns]
    return _read_csv(path, options)


def read_sample(path: Path, competition: Competition, nrows: int | None = None) -> pd.DataFrame:
    options = _read_options(competition, competition.id_column)
    if nrows is not None and path.suffix == ".zip":
        # Streamed from the archive: only the rows asked for are decompressed, not the whole member.
        with zipfile.ZipFile(path) as archive, archive.open(archive.infolist()[0]) as member:
            return pd.read_csv(member, nrows=nrows, **options)
    return pd.read_csv(path, nrows=nrows, **options)


def scored_columns(sample_columns: Sequence[str], competition: Competition) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(scored, ignored): the prepared sample submission decides which target columns are scored.

    The scored columns are the competition's target columns that the sample has, in the
    competition's order; the others are ignored when a submission has them. MLE-bench's RANZCR data
    scores nine of Kaggle's eleven classes, data prepared here all eleven: each grades as its sample
    says. A sample lacking a required column, or naming one the competition does not know, is a
    broken data dir (a grader error), never a smaller test.
    """
    known = competition.target_columns
    if not known:
        return tuple(c for c in sample_columns if c != competition.id_column), ()
    required = competition.required_columns if competition.required_columns is not None else known
    present = set(sample_columns)
    lacking = [c for c in required if c not in present]
    unknown = [c for c in sample_columns if c != competition.id_column and c not in known]
    if lacking or unknown:
        raise GraderError(
            f"the sample submission of {competition.id} does not fit the competition: "
            f"lacking {lacking}, unknown {unknown}"
        )
    return tuple(c for c in known if c in present), tuple(c for c in known if c not in present)


def format_from(
    reference: pd.DataFrame,
    competition: Competition,
    ids: pd.Series | None = None,
    *,
    from_sample: bool = True,
) -> SubmissionFormat:
    """The expected format: columns from the public sample (or every target column when the answers
    stand in for a missing sample, `from_sample=False`), and ids (the reference's unless given)."""
    if from_sample:
        columns, ignored = scored_columns(list(reference.columns), competition)
    else:
        columns, ignored = (
            competition.target_columns or tuple(c for c in reference.columns if c != competition.id_column),
            (),
        )
    numeric = frozenset(c for c in columns if c in reference.columns and pd.api.types.is_numeric_dtype(reference[c]))
    expected_ids = ids if ids is not None else reference[competition.id_column]
    return SubmissionFormat(competition.id_column, expected_ids.reset_index(drop=True), columns, numeric, ignored)


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """The values as Arrow large strings, chunks kept as read (combining them would copy every id)."""
    array = pa.array(values.astype("str"), from_pandas=True)
    chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    return chunked.cast(pa.large_string()) if chunked.type != pa.large_string() else chunked


def _same_text(left: pa.ChunkedArray, right: pa.ChunkedArray) -> bool:
    """Equal text arrays of the same length (the first ids are compared first: a shuffled file differs there)."""
    if len(left) and left[0] != right[0]:
        return False
    return bool(pc.all(pc.equal(left, right)).as_py())


def match_ids(
    ids: pd.Series,
    wanted: pd.Series,
    id_column: str,
    *,
    wanted_unique: bool = False,
    wanted_text: pa.ChunkedArray | None = None,
    wanted_index: IdIndex | None = None,
) -> np.ndarray:
    """For each wanted id, the position of its row in the submission; InvalidSubmissionError if they differ.

    Ids are compared as text in Arrow: one dictionary encoding of the wanted ids followed by the
    submitted ones gives every id an integer code in one hash pass (no per-row Python objects). The
    wanted ids come first, so the k distinct wanted ids are exactly the codes 0..k-1, in order of
    first appearance; everything else is integer arithmetic in numpy. A wanted id listed twice
    (answers that repeat an id) maps to the same submission row twice.

    Before that, two fast paths for a submission holding exactly the wanted ids once each: rows in
    the answers' order (one comparison), and, with `wanted_index` (the distinct wanted ids keyed
    once per answers file), any order through an exact numpy lookup. Anything else (an id missing,
    repeated or unknown) takes the general path, whose messages name the problem.
    """
    if ids.isna().any():
        raise InvalidSubmissionError(f"{int(ids.isna().sum())} rows have an empty {id_column!r}")
    wanted_text = wanted_text if wanted_text is not None else _arrow_text(wanted)
    submitted = _arrow_text(ids)
    if wanted_unique and len(submitted) == len(wanted_text) and _same_text(submitted, wanted_text):
        # Rows in the answers' own order (as written from the sample): nothing to hash.
        return np.arange(len(submitted), dtype=np.int64)
    if wanted_index is not None:
        found = wanted_index.positions(submitted)
        if found is not None:
            return found
    # A chunked encoding shares one dictionary across its chunks, in order of first appearance.
    encoded = pa.chunked_array([*wanted_text.chunks, *submitted.chunks], type=pa.large_string()).dictionary_encode()
    codes = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]).astype(np.int64)
    dictionary = encoded.chunk(0).dictionary
    wanted_code, submitted_code = codes[: len(wanted_text)], codes[len(wanted_text) :]
    distinct_wanted = int(wanted_code.max()) + 1 if len(wanted_code) else 0
    counts = np.bincount(submitted_code, minlength=len(dictionary))
    wanted_counts = np.bincount(wanted_code, minlength=len(dictionary))
    # An id the answers list k times may be listed once (its row is scored k times) or exactly k
    # times (the rows are paired in order of appearance, as in a sample written with one row per
    # answer row, MLE-bench's layout); any other repeat is a duplicate.
    repeated = np.flatnonzero((counts > 1) & (counts != wanted_counts))
    if len(repeated):
        twice = [dictionary[int(i)].as_py() for i in repeated[: SHOWN_IDS + 1]]
        raise InvalidSubmissionError(f"{len(repeated)} ids appear more than once: {_examples(twice, len(repeated))}")
    missing = np.flatnonzero(counts[:distinct_wanted] == 0)
    if len(missing):
        shown = _examples([dictionary[int(i)].as_py() for i in missing[: SHOWN_IDS + 1]], len(missing))
        raise InvalidSubmissionError(
            f"{len(missing)} of {distinct_wanted} ids are missing from the submission: {shown}"
        )
    outside = np.flatnonzero(submitted_code >= distinct_wanted)
    if len(outside):
        extra = [submitted[int(i)].as_py() for i in outside[: SHOWN_IDS + 1]]
        raise InvalidSubmissionError(f"{len(outside)} ids are not in the test set: {_examples(extra, len(outside))}")
    if not (counts > 1).any():
        position = np.empty(distinct_wanted, dtype=np.int64)
        position[submitted_code] = np.arange(len(submitted_code))
        order: np.ndarray = position[wanted_code]
        return order
    # Repeated ids: the r-th answer row of an id takes the r-th submission row of that id.
    by_code = np.argsort(submitted_code, kind="stable")
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranked = np.argsort(wanted_code, kind="stable")
    rank = np.empty(len(wanted_code), dtype=np.int64)
    rank[ranked] = (
        np.arange(len(wanted_code)) - np.concatenate([[0], np.cumsum(wanted_counts)[:-1]])[wanted_code[ranked]]
    )
    rank = np.where(counts[wanted_code] == 1, 0, rank)
    paired: np.ndarray = by_code[start[wanted_code] + rank]
    return paired


def check_format(submission: pd.DataFrame, expected: SubmissionFormat) -> np.ndarray:
    """Raise InvalidSubmissionError naming the first kind of problem found (ids, columns, values).

    Returns, for each expected id in order, the position of its row in the submission.
    """
    id_column = expected.id_column
    columns = list(submission.columns)
    if id_column not in columns:
        raise InvalidSubmissionError(
            f"missing id column {id_column!r} (the submission has columns {_columns_text(columns)})"
        )
    # Counted once (a header can have hundreds of thousands of names; a per-name scan is quadratic).
    counts = Counter(columns)
    duplicated_columns = sorted(str(c) for c, n in counts.items() if n > 1)
    if duplicated_columns:
        raise InvalidSubmissionError(f"duplicate columns: {_columns_text(duplicated_columns)}")
    wanted = [id_column, *expected.columns]
    missing_columns = [c for c in expected.columns if c not in counts]
    if missing_columns:
        raise InvalidSubmissionError(f"missing columns: {_columns_text(missing_columns)} (expected {wanted})")
    allowed = {id_column, *expected.columns, *expected.ignored_columns}
    extra_columns = [c for c in columns if c not in allowed]
    if extra_columns:
        raise InvalidSubmissionError(f"unexpected columns: {_columns_text(extra_columns)} (expected {wanted})")

    order = match_ids(
        submission[id_column],
        expected.ids,
        id_column,
        wanted_unique=expected.ids_unique,
        wanted_text=expected.ids_text,
        wanted_index=expected.ids_index,
    )

    for column in expected.columns:
        values = submission[column]
        if column in expected.numeric_columns and not pd.api.types.is_numeric_dtype(values):
            coerced = pd.to_numeric(values, errors="coerce")
            bad = values[coerced.isna() & values.notna()]
            if len(bad):
                raise InvalidSubmissionError(
                    f"column {column!r} must be numeric; {len(bad)} values are not, e.g. {_examples(bad.unique())}"
                )
        if values.isna().any():
            raise InvalidSubmissionError(f"column {column!r} has {int(values.isna().sum())} empty or NaN values")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            infinite = int(np.isinf(values.to_numpy(dtype=float)).sum())
            if infinite:
                raise InvalidSubmissionError(f"column {column!r} has {infinite} infinite values")
    return order


def _aligned(submission: pd.DataFrame, columns: Sequence[str], order: np.ndarray) -> pd.DataFrame:
    """The submission's `columns`, rows in `order`, index 0..n-1.

    Text columns held by Arrow are taken by Arrow on their chunks combined (pandas' take of them
    checks the positions again and takes chunk by chunk: about 1.5x slower on a million strings),
    each back in its own dtype; the other columns by pandas, in one take that keeps their blocks.
    """
    by_arrow = [c for c in columns if _arrow_text_dtype(submission[c].dtype)]
    rest = [c for c in columns if c not in by_arrow]
    aligned = (
        submission[rest].take(order).reset_index(drop=True) if rest else pd.DataFrame(index=pd.RangeIndex(len(order)))
    )
    for column in by_arrow:
        values = submission[column]
        arrow = pa.array(values.array)
        if isinstance(arrow, pa.ChunkedArray):
            arrow = arrow.combine_chunks()
        taken = arrow.take(pa.array(order))
        aligned[column] = pd.Series(values.dtype.__from_arrow__(taken), name=column)
    return aligned if not by_arrow or not rest else aligned[list(columns)]


def _arrow_text_dtype(dtype: Any) -> bool:
    """A pandas string dtype stored in Arrow (pandas 3's default `str`)."""
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _numeric(submission: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    # Numbers written as text ("3" in a column pandas read as object) are numbers once checked.
    # The frame is the grader's own copy of the file, so columns are converted in place.
    for column in columns:
        if not pd.api.types.is_numeric_dtype(submission[column]):
            submission[column] = pd.to_numeric(submission[column])
    return submission


def _without(submission: pd.DataFrame, ignored: Sequence[str]) -> pd.DataFrame:
    """The submission without the columns this data dir does not score (MLE-bench ignores them too)."""
    present = [c for c in ignored if c in submission.columns]
    return submission.drop(columns=present) if present else submission


def prepared_paths(competition: Competition, data_dir: Path) -> tuple[Path, Path, Path]:
    """(answers, public sample submission, leaderboard) of a prepared competition."""
    root = data_dir / competition.id
    return (
        root / "prepared" / "private" / competition.answers_file,
        root / "prepared" / "public" / competition.sample_submission_file,
        root / "leaderboard.csv",
    )


def _supported(competition_id: str) -> Competition:
    competition = get_competition(competition_id)
    if not competition.info.supported:
        raise CompetitionNotSupportedError(
            f"competition {competition_id!r} is listed but grading it is not supported yet"
        )
    return competition


def grade_submission(
    path: Path | None,
    competition_id: str,
    data_dir: Path,
    *,
    compute_profile: dict[str, Any] | None = None,
    limits: SubmissionLimits | None = None,
) -> GradeReport:
    """Grade the submission at `path` (None or a missing file: "no submission") against the prepared answers.

    A submission beyond `limits` (rows, bytes, columns derived from the answers) is refused as
    invalid before it is parsed.
    """
    competition = _supported(competition_id)
    answers_path, sample_path, leaderboard_path = prepared_paths(competition, data_dir)
    if not answers_path.is_file():
        raise NotPreparedError(
            f"{competition_id} is not prepared in {data_dir}: {answers_path} is missing "
            f"(run `mleredux prepare -c {competition_id}`)"
        )
    if not leaderboard_path.is_file():
        raise NotPreparedError(f"{competition_id} has no leaderboard at {leaderboard_path}; medals cannot be computed")
    is_lower_better = competition.info.is_lower_better
    try:
        # Parsed exactly, so a threshold equals the rounded score written as the same decimal.
        leaderboard = pd.read_csv(leaderboard_path, **EXACT_FLOATS)
        thresholds = medal_thresholds(leaderboard["score"].tolist(), is_lower_better=is_lower_better)
    except (KeyError, ValueError, pd.errors.ParserError) as exc:
        raise GraderError(f"the leaderboard {leaderboard_path} is unusable: {exc}") from exc

    report = ungraded_report(
        competition_id,
        path,
        answers_path,
        thresholds=thresholds,
        is_lower_better=is_lower_better,
        compute_profile=compute_profile,
        hash_files=False,  # hashed below: the answers' hash is cached, the submission's read once
    )
    if path is None or not path.is_file():
        report.answers_sha256 = _answers_sha256(answers_path)
        return report
    reference = _reference(competition, answers_path, sample_path)
    report.answers_sha256 = reference.answers_sha256
    answers, expected, bounds = reference.answers.copy(deep=False), reference.expected, reference.bounds
    # The bounds are checked in one streamed pass that also hashes the file (no second read).
    digest = hashlib.sha256()
    try:
        hashed = check_bounds(path, bounds, limits or SubmissionLimits(), digest)
    except InvalidSubmissionError as exc:
        report.submission_sha256 = sha256_file(path)
        report.invalid_reason = str(exc)
        return report
    report.submission_sha256 = digest.hexdigest() if hashed else sha256_file(path)
    try:
        submission = load_submission(path, competition)
        order = check_format(submission, expected)
        submission = _without(submission, expected.ignored_columns)
        submission = _numeric(submission, sorted(expected.numeric_columns))
        competition.check_values(submission)
    except InvalidSubmissionError as exc:
        report.invalid_reason = str(exc)
        return report
    # Rows in the answers' order; only the columns a metric may read are copied. The ids are the
    # answers' own (equal by construction), so they are not taken from the submission.
    aligned = _aligned(submission, expected.columns, order)
    aligned.insert(0, competition.id_column, expected.ids)
    del submission
    try:
        score = float(competition.score(aligned, answers))
    except InvalidSubmissionError as exc:
        report.invalid_reason = str(exc)
        return report
    except Exception as exc:
        raise GraderError(f"the {competition_id} metric failed on a well-formed submission: {exc!r}") from exc
    if not math.isfinite(score):
        raise GraderError(f"the {competition_id} metric returned {score} on a well-formed submission")
    # Ranked at the leaderboard's precision, as MLE-bench ranks it; the exact value is kept beside it.
    rounded = leaderboard_score(score)
    record_score(report, rounded, medals_for(rounded, thresholds, is_lower_better=is_lower_better))
    report.score_unrounded = score
    return report


def _expected(expected: SubmissionFormat, rows: int, reference: Path) -> Expected:
    columns = 1 + len(expected.columns) + len(expected.ignored_columns)
    return Expected(rows=rows, columns=columns, reference_row_bytes=reference_row_bytes(reference, rows))


@dataclass(frozen=True)
class _Reference:
    """What grading one competition needs besides the submission, parsed once per answers file."""

    answers: pd.DataFrame
    expected: SubmissionFormat
    bounds: Expected
    answers_sha256: str


#: Parsed answers kept for the next submission of the same competition (a grader grades many), by
#: file identity (path, inode, size, mtime), so a changed file is read again. At most this many ...
REFERENCE_CACHE_ENTRIES = 4
#: ... and answers files of at most this many bytes in all.
REFERENCE_CACHE_BYTES = 512 << 20
_references: OrderedDict[tuple[object, ...], tuple[int, _Reference]] = OrderedDict()
_references_lock = threading.Lock()


def _identity(path: Path) -> tuple[object, ...]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _answers_sha256(answers_path: Path) -> str:
    key = _identity(answers_path)
    with _references_lock:
        for (answers_key, *_), (_, reference) in _references.items():
            if answers_key == key:
                return reference.answers_sha256
    return sha256_file(answers_path)


def _reference(competition: Competition, answers_path: Path, sample_path: Path) -> _Reference:
    key = (_identity(answers_path), _identity(sample_path), competition.id)
    with _references_lock:
        if key in _references:
            _references.move_to_end(key)
            return _references[key][1]
    try:
        answers = read_answers(answers_path, competition)
        answer_ids = answers[competition.answers_id_column or competition.id_column]
        # Grading takes the ids from the answers; the sample gives only column names and dtypes.
        if sample_path.is_file():
            expected = format_from(read_sample(sample_path, competition, nrows=SAMPLE_ROWS), competition, answer_ids)
        else:
            expected = format_from(answers, competition, answer_ids, from_sample=False)
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as exc:
        raise GraderError(f"the answers of {competition.id} at {answers_path} are unreadable: {exc}") from exc
    plain_sample = sample_path.is_file() and sample_path.suffix == ".csv"
    bounds = _expected(expected, len(answer_ids), sample_path if plain_sample else answers_path)
    expected = _keyed(expected)
    reference = _Reference(answers, expected, bounds, sha256_file(answers_path))
    _remember(key, answers_path.stat().st_size, reference)
    return reference


def _keyed(expected: SubmissionFormat) -> SubmissionFormat:
    """The format with its expected ids as Arrow text, known to be distinct or not, and keyed."""
    ids_text = _arrow_text(expected.ids)
    unique = pc.count_distinct(ids_text).as_py() == len(expected.ids)
    index = id_index(ids_text) if unique else None
    return dataclasses.replace(expected, ids_unique=unique, ids_text=ids_text, ids_index=index)


def _sample_reference(competition: Competition, sample_path: Path) -> tuple[SubmissionFormat, Expected]:
    """The format validation checks against (the whole public sample), parsed once per sample file.

    An agent may validate many times; each call then costs its own submission, not the sample's.
    """
    key = ("sample", _identity(sample_path), competition.id)
    with _references_lock:
        if key in _references:
            _references.move_to_end(key)
            cached = _references[key][1]
            return cached.expected, cached.bounds
    expected = format_from(read_sample(sample_path, competition), competition)
    expected = _keyed(expected)
    bounds = _expected(expected, len(expected.ids), sample_path)
    _remember(key, sample_path.stat().st_size, _Reference(pd.DataFrame(), expected, bounds, ""))
    return expected, bounds


def _remember(key: tuple[object, ...], size: int, reference: _Reference) -> None:
    with _references_lock:
        _references[key] = (size, reference)
        while len(_references) > REFERENCE_CACHE_ENTRIES or (
            len(_references) > 1 and sum(n for n, _ in _references.values()) > REFERENCE_CACHE_BYTES
        ):
            _references.popitem(last=False)


def validate_submission(
    content: bytes | Path, competition_id: str, data_dir: Path, *, limits: SubmissionLimits | None = None
) -> ValidationResult:
    """Check the format only, against the PUBLIC sample submission: ids, columns, dtypes, NaN.

    Bounds (`limits`) derive from the sample, so they reveal nothing the agent cannot read. A file
    (`Path`) is checked against them from disk and read into memory only when it is within them.
    """
    competition = _supported(competition_id)
    _, sample_path, _ = prepared_paths(competition, data_dir)
    if not sample_path.is_file():
        raise NotPreparedError(f"{competition_id} is not prepared in {data_dir}: {sample_path} is missing")
    expected, bounds = _sample_reference(competition, sample_path)
    try:
        check_bounds(content, bounds, limits or SubmissionLimits())
        if isinstance(content, Path):
            content = content.read_bytes()
        submission = load_submission(io.BytesIO(content), competition)
        check_format(submission, expected)
        submission = _without(submission, expected.ignored_columns)
        competition.check_values(_numeric(submission, sorted(expected.numeric_columns)))
    except InvalidSubmissionError as exc:
        return ValidationResult(valid=False, message=str(exc))
    return ValidationResult(
        valid=True,
        message=f"submission is valid: {len(submission)} rows, columns {[expected.id_column, *expected.columns]}",
    )
