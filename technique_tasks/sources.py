"""The table a technique task starts from: a prepared competition's labelled rows as numbers and a target.

Every task plants its traps into a `SourceTable`: a few well-behaved numeric features (named
`f_00`, `f_01`, … so their origin gives nothing away), a target, and its kind. A table comes from
the labelled training file of a prepared competition: tabular competitions give their numeric
columns, text competitions give measurements of the text (length, words, punctuation, capitals …).
Competitions of other kinds (images, audio) have no such table and cannot be derived from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mleredux.errors import CompetitionNotSupportedError

TargetKind = Literal["binary", "multiclass", "regression"]

#: Rows read from a source's training file at most (a Lite training file can hold millions).
MAX_READ_ROWS = 50_000
#: Rows a derived dataset is built from at most: enough to detect what is planted, quick to analyse.
MAX_ROWS = 3_000
#: Fewer labelled rows than this cannot carry the traps with any statistical footing.
MIN_ROWS = 150
#: Features kept at most; chosen for their link to the target and low correlation with each other.
MAX_FEATURES = 8
#: A candidate feature is skipped when its |correlation| with one already kept is above this.
MAX_FEATURE_CORRELATION = 0.8
#: A feature needs at least this many distinct values to be kept (binary flags make poor carriers).
MIN_DISTINCT = 5
#: In a multiclass source, a class with fewer rows than this share (or 20 rows) is dropped.
MIN_CLASS_SHARE = 0.02


@dataclass(frozen=True)
class SourceTable:
    """Labelled rows as numeric features and a target, ready for planting."""

    competition_id: str
    kind: TargetKind
    #: Float columns `f_00` … with no missing value, no duplicated row, index 0 … n-1.
    features: pd.DataFrame
    #: Class codes 0 … K-1 (classification) or floats (regression), aligned with `features`.
    target: np.ndarray
    #: Feature name -> the source column or text measurement it is (kept private, in the ground truth).
    origin: dict[str, str]
    #: The original class names, in code order (classification only).
    class_names: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        return list(self.features.columns)


@dataclass(frozen=True)
class _Raw:
    """A source's labelled rows before selection: candidate numeric columns and the raw target."""

    columns: pd.DataFrame
    target: pd.Series


def _read_train_csv(public: Path, **options: object) -> pd.DataFrame:
    path = public / "train.csv"
    if not path.is_file():
        raise CompetitionNotSupportedError(f"the prepared public files in {public} have no train.csv to derive from")
    return pd.read_csv(path, nrows=MAX_READ_ROWS, **options)  # type: ignore[call-overload, no-any-return]


def _numeric_columns(frame: pd.DataFrame, drop: list[str]) -> pd.DataFrame:
    kept = frame.drop(columns=[c for c in drop if c in frame.columns])
    return kept.select_dtypes(include=["number", "bool"]).astype(float)


_WORD = re.compile(r"[A-Za-z']+")


def text_measurements(texts: pd.Series) -> pd.DataFrame:
    """Numbers a careful reader could measure on any text: how long, how shouty, how punctuated."""
    text = texts.fillna("").astype(str)
    words = text.map(lambda t: _WORD.findall(t))
    n_words = words.map(len).astype(float)
    n_chars = text.str.len().astype(float)
    letters = text.str.count(r"[A-Za-z]").astype(float)
    return pd.DataFrame(
        {
            "characters": n_chars,
            "words": n_words,
            "mean_word_length": words.map(lambda w: float(np.mean([len(x) for x in w])) if w else 0.0),
            "distinct_word_share": words.map(lambda w: len({x.lower() for x in w}) / len(w) if w else 0.0),
            "capital_share": text.str.count(r"[A-Z]").astype(float) / letters.clip(lower=1.0),
            "digit_count": text.str.count(r"[0-9]").astype(float),
            "punctuation_count": text.str.count(r"[^\w\s]").astype(float),
            "exclamation_count": text.str.count("!").astype(float),
            "question_count": text.str.count(r"\?").astype(float),
            "second_person_count": words.map(lambda w: float(sum(x.lower() in ("you", "your", "you're") for x in w))),
            "longest_word": words.map(lambda w: float(max((len(x) for x in w), default=0))),
            "sentence_count": text.str.count(r"[.!?]+").astype(float),
        }
    )


def _tabular(target: str, drop: tuple[str, ...] = ()) -> Callable[[Path], _Raw]:
    def load(public: Path) -> _Raw:
        frame = _read_train_csv(public)
        if target not in frame.columns:
            raise CompetitionNotSupportedError(f"{public / 'train.csv'} has no target column {target!r}")
        return _Raw(_numeric_columns(frame, [target, *drop]), frame[target])

    return load


def _text(text_column: str, target: str) -> Callable[[Path], _Raw]:
    def load(public: Path) -> _Raw:
        frame = _read_train_csv(public, keep_default_na=False)
        for column in (text_column, target):
            if column not in frame.columns:
                raise CompetitionNotSupportedError(f"{public / 'train.csv'} has no column {column!r}")
        return _Raw(text_measurements(frame[text_column]), frame[target])

    return load


def _taxi(public: Path) -> _Raw:
    frame = _read_train_csv(public)
    stamp = pd.to_datetime(frame["pickup_datetime"].astype(str).str.replace(" UTC", "", regex=False), errors="coerce")
    columns = pd.DataFrame(
        {
            "pickup_hour": stamp.dt.hour,
            "pickup_weekday": stamp.dt.weekday,
            "pickup_year": stamp.dt.year + stamp.dt.dayofyear / 366.0,
            "pickup_longitude": frame["pickup_longitude"],
            "pickup_latitude": frame["pickup_latitude"],
            "longitude_delta": (frame["dropoff_longitude"] - frame["pickup_longitude"]).abs(),
            "latitude_delta": (frame["dropoff_latitude"] - frame["pickup_latitude"]).abs(),
            "passenger_count": frame["passenger_count"],
        }
    ).astype(float)
    return _Raw(columns, frame["fare_amount"])


def _pizza(public: Path) -> _Raw:
    # Only the fields a test request also has: the `*_at_retrieval` ones are known after the outcome.
    train_path, test_path = public / "train.json", public / "test.json"
    if not train_path.is_file() or not test_path.is_file():
        raise CompetitionNotSupportedError(f"the prepared public files in {public} lack train.json or test.json")
    train = pd.DataFrame(json.loads(train_path.read_text(encoding="utf-8")))
    test_fields = set(json.loads(test_path.read_text(encoding="utf-8"))[0])
    numeric = _numeric_columns(train[[c for c in train.columns if c in test_fields]], ["request_id"])
    text = text_measurements(train.get("request_text_edit_aware", pd.Series([""] * len(train))))
    columns = pd.concat([numeric.reset_index(drop=True), text.add_prefix("text_").reset_index(drop=True)], axis=1)
    return _Raw(columns, train["requester_received_pizza"].astype(int))


@dataclass(frozen=True)
class SourceSpec:
    kind: TargetKind
    load: Callable[[Path], _Raw]
    what: str


#: Competitions a technique task can derive from, with how their labelled rows become a table.
SOURCES: dict[str, SourceSpec] = {
    "demo-digits": SourceSpec("multiclass", _tabular("label", ("id",)), "pixel intensities"),
    "demo-breast-cancer": SourceSpec("binary", _tabular("malignant", ("id",)), "cell nucleus measurements"),
    "demo-diabetes": SourceSpec("regression", _tabular("progression", ("id",)), "patient measurements"),
    "tabular-playground-series-may-2022": SourceSpec("binary", _tabular("target", ("id",)), "numeric columns"),
    "tabular-playground-series-dec-2021": SourceSpec("multiclass", _tabular("Cover_Type", ("Id",)), "numeric columns"),
    "nomad2018-predict-transparent-conductors": SourceSpec(
        "regression",
        # The other target (band gap) would be a leak of its own: it is dropped.
        _tabular("formation_energy_ev_natom", ("id", "bandgap_energy_ev")),
        "material composition and lattice columns",
    ),
    "new-york-city-taxi-fare-prediction": SourceSpec("regression", _taxi, "pickup time and coordinates"),
    "detecting-insults-in-social-commentary": SourceSpec("binary", _text("Comment", "Insult"), "text measurements"),
    "spooky-author-identification": SourceSpec("multiclass", _text("text", "author"), "text measurements"),
    "jigsaw-toxic-comment-classification-challenge": SourceSpec(
        "binary", _text("comment_text", "toxic"), "text measurements"
    ),
    "random-acts-of-pizza": SourceSpec("binary", _pizza, "request fields and text measurements"),
}


def supported_sources() -> list[str]:
    return sorted(SOURCES)


def source_spec(competition_id: str) -> SourceSpec:
    """How a competition becomes a table, or CompetitionNotSupportedError saying what is supported."""
    spec = SOURCES.get(competition_id)
    if spec is None:
        raise CompetitionNotSupportedError(
            f"technique tasks cannot derive from {competition_id!r}: they need labelled tabular or text rows "
            f"(a binary, multiclass or regression target). Supported competitions: {', '.join(supported_sources())}"
        )
    return spec


def _association(column: np.ndarray, target: np.ndarray, kind: TargetKind) -> float:
    """Share of a column's variance explained by the target (eta squared), or r squared for a numeric target."""
    if column.std() == 0:
        return 0.0
    if kind == "regression":
        return float(np.corrcoef(column, target)[0, 1] ** 2)
    total = ((column - column.mean()) ** 2).sum()
    between = sum((target == k).sum() * (column[target == k].mean() - column.mean()) ** 2 for k in np.unique(target))
    return float(between / total)


def _encode_target(raw: pd.Series, kind: TargetKind) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """(target, class names, rows kept): classes as codes 0 … K-1, rare classes and empty targets dropped."""
    if kind == "regression":
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(values)
        return values, (), keep
    labels = raw.astype(str).to_numpy(dtype=object)
    keep = raw.notna().to_numpy().copy()
    counts = pd.Series(labels[keep]).value_counts()
    frequent = counts[(counts >= 20) & (counts >= MIN_CLASS_SHARE * keep.sum())].index
    keep &= np.isin(labels, frequent)
    names = tuple(sorted(frequent, key=lambda v: (len(v), v)))  # numeric labels in numeric order
    code = {name: i for i, name in enumerate(names)}
    return np.array([code.get(v, -1) for v in labels]), names, keep


def load_source(competition_id: str, public: Path, *, seed: int) -> SourceTable:
    """The competition's labelled rows as a `SourceTable` of at most MAX_ROWS rows and MAX_FEATURES features."""
    spec = source_spec(competition_id)
    raw = spec.load(public)
    target, class_names, keep = _encode_target(raw.target.reset_index(drop=True), spec.kind)
    columns = raw.columns.reset_index(drop=True)
    keep &= columns.notna().all(axis=1).to_numpy() & np.isfinite(columns.to_numpy(dtype=float)).all(axis=1)
    columns, target = columns[keep].reset_index(drop=True), target[keep]
    if spec.kind == "binary" and len(class_names) != 2:
        raise CompetitionNotSupportedError(
            f"{competition_id}: a binary source needs two classes with 20 rows or more; found {list(class_names)}"
        )
    if spec.kind == "multiclass" and len(class_names) < 3:
        raise CompetitionNotSupportedError(
            f"{competition_id}: a multiclass source needs three classes with 20 rows or more; found {list(class_names)}"
        )
    rng = np.random.default_rng(seed)
    if len(columns) > MAX_ROWS:
        chosen = np.sort(rng.choice(len(columns), size=MAX_ROWS, replace=False))
        columns, target = columns.iloc[chosen].reset_index(drop=True), target[chosen]
    distinct = columns.nunique()
    candidates = [c for c in columns.columns if distinct[c] >= MIN_DISTINCT and columns[c].std() > 0]
    ranked = sorted(candidates, key=lambda c: -_association(columns[c].to_numpy(dtype=float), target, spec.kind))
    selected: list[str] = []
    for name in ranked:
        values = columns[name].to_numpy(dtype=float)
        if all(abs(np.corrcoef(values, columns[s])[0, 1]) <= MAX_FEATURE_CORRELATION for s in selected):
            selected.append(name)
        if len(selected) == MAX_FEATURES:
            break
    if len(selected) < 4:
        raise CompetitionNotSupportedError(
            f"{competition_id} offers {len(selected)} usable numeric features ({spec.what}); a technique task needs 4"
        )
    # Duplicated rows would blur the duplicate-row leak and the group structure some tasks plant.
    unique_rows = ~columns[selected].duplicated().to_numpy()
    columns, target = columns[unique_rows].reset_index(drop=True), target[unique_rows]
    if len(columns) < MIN_ROWS:
        raise CompetitionNotSupportedError(
            f"{competition_id} has {len(columns)} usable labelled rows; a technique task needs at least {MIN_ROWS}"
        )
    features = pd.DataFrame({f"f_{i:02d}": columns[name].to_numpy(dtype=float) for i, name in enumerate(selected)})
    origin = {f"f_{i:02d}": name for i, name in enumerate(selected)}
    return SourceTable(competition_id, spec.kind, features, target, origin, class_names)
