"""Turning a table into model inputs: dense numbers for every column, TF-IDF for free text.

Learnt on the training rows only, then applied to any rows:
- numbers and booleans as they are (missing values stay NaN; the linear models impute);
- short strings with few values: one indicator per value seen in training;
- short strings with many values: how often the value occurs in training, and its length; strings
  of one fixed width (codes such as "ABBCDAEBCA") also one number per character position;
- lists (e.g. subreddits): their length, and their items joined as text;
- long multi-word strings are text: length and word count here, and word and character n-grams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

MAX_ONE_HOT = 30
MAX_FIXED_WIDTH = 32
#: Character n-grams are skipped when the text is bigger than this (memory and time).
MAX_CHAR_NGRAM_TEXT = 40_000_000


def _is_listy(series: pd.Series) -> bool:
    sample = series.dropna().head(50)
    return len(sample) > 0 and all(isinstance(v, list | tuple | dict) for v in sample)


def _as_text(series: pd.Series) -> pd.Series:
    def one(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, dict):
            return " ".join(f"{k} {v}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return " ".join(map(str, value))
        return str(value)

    return series.map(one).astype(object)


@dataclass
class FeatureBuilder:
    numeric: list[str] = field(default_factory=list)
    one_hot: dict[str, list[str]] = field(default_factory=dict)
    frequency: dict[str, dict[str, float]] = field(default_factory=dict)
    fixed_width: dict[str, int] = field(default_factory=dict)
    lists: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    word_tfidf: TfidfVectorizer | None = None
    char_tfidf: TfidfVectorizer | None = None
    names: list[str] = field(default_factory=list)

    def fit(self, frame: pd.DataFrame, columns: list[str]) -> FeatureBuilder:
        """Learns from `columns` of `frame` (read one at a time: no copy of the table is made)."""
        for name in columns:
            series = frame[name]
            if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
                if series.notna().any():
                    self.numeric.append(name)
                continue
            if _is_listy(series):
                self.lists.append(name)
                self.text.append(name)
                continue
            strings = _as_text(series)
            lengths = strings.str.len()
            words = strings.str.count(r"\s+") + 1
            if lengths.mean() >= 20 and words.mean() >= 3:
                self.text.append(name)
                continue
            counts = strings.value_counts()
            if len(counts) <= MAX_ONE_HOT:
                self.one_hot[name] = [str(v) for v in counts.index]
                continue
            self.frequency[name] = (counts / len(strings)).to_dict()
            if lengths.min() == lengths.max() and 1 < lengths.max() <= MAX_FIXED_WIDTH:
                self.fixed_width[name] = int(lengths.max())
        if self.text:
            documents = self._documents(frame)
            rows = len(documents)
            self.word_tfidf = TfidfVectorizer(
                ngram_range=(1, 2),
                min_df=2 if rows >= 1000 else 1,
                max_features=100_000,
                sublinear_tf=True,
                dtype=np.float32,
            )
            self.word_tfidf.fit(documents)
            if int(documents.str.len().sum()) <= MAX_CHAR_NGRAM_TEXT:
                self.char_tfidf = TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=2 if rows >= 1000 else 1,
                    max_features=100_000,
                    sublinear_tf=True,
                    dtype=np.float32,
                )
                self.char_tfidf.fit(documents)
        self.names = self._dense_names()
        return self

    def _documents(self, frame: pd.DataFrame) -> pd.Series:
        parts = [_as_text(frame[c]) for c in self.text]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + " \n " + part
        return joined.reset_index(drop=True)

    def _dense_names(self) -> list[str]:
        names = list(self.numeric)
        for column, values in self.one_hot.items():
            names += [f"{column}={v}" for v in values]
        for column in self.frequency:
            names += [f"{column}:freq", f"{column}:len"]
        for column, width in self.fixed_width.items():
            names += [f"{column}[{i}]" for i in range(width)] + [f"{column}:distinct"]
        names += [f"{c}:items" for c in self.lists]
        for column in self.text:
            names += [f"{column}:chars", f"{column}:words"]
        return names

    def dense(self, frame: pd.DataFrame) -> np.ndarray:
        """One float32 column per entry of `names`; NaN where a number is missing."""
        columns: list[np.ndarray] = []
        for column in self.numeric:
            columns.append(pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float32))
        for column, values in self.one_hot.items():
            strings = _as_text(frame[column])
            columns += [(strings == v).to_numpy(dtype=np.float32) for v in values]
        for column, table in self.frequency.items():
            strings = _as_text(frame[column])
            columns.append(strings.map(table).fillna(0.0).to_numpy(dtype=np.float32))
            columns.append(strings.str.len().to_numpy(dtype=np.float32))
        for column, width in self.fixed_width.items():
            strings = _as_text(frame[column]).str.pad(width, side="right").str.slice(0, width)
            codes = np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32)
            codes = codes.reshape(len(strings), width).astype(np.float32)
            columns += [codes[:, i] for i in range(width)]
            columns.append(strings.map(lambda s: len(set(s))).to_numpy(dtype=np.float32))
        for column in self.lists:
            columns.append(
                frame[column].map(lambda v: len(v) if isinstance(v, list | tuple | dict) else 0).to_numpy(np.float32)
            )
        for column in self.text:
            strings = _as_text(frame[column])
            columns.append(strings.str.len().to_numpy(dtype=np.float32))
            columns.append((strings.str.count(r"\S+")).to_numpy(dtype=np.float32))
        if not columns:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.column_stack(columns).astype(np.float32, copy=False)

    def sparse_text(self, frame: pd.DataFrame) -> sp.csr_matrix | None:
        if self.word_tfidf is None:
            return None
        documents = self._documents(frame)
        blocks = [self.word_tfidf.transform(documents)]
        if self.char_tfidf is not None:
            blocks.append(self.char_tfidf.transform(documents))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "numeric": len(self.numeric),
            "one_hot": {c: len(v) for c, v in self.one_hot.items()},
            "frequency": sorted(self.frequency),
            "fixed_width": self.fixed_width,
            "lists": self.lists,
            "text": self.text,
            "dense_features": len(self.names),
            "tfidf_terms": (len(self.word_tfidf.vocabulary_) if self.word_tfidf is not None else 0)
            + (len(self.char_tfidf.vocabulary_) if self.char_tfidf is not None else 0),
        }
