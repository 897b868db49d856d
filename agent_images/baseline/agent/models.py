"""Candidate models for one head, chosen by out-of-fold score within the time budget.

Candidates: a constant (class priors or the mean: the floor every other must beat), gradient-boosted
trees on the dense features, a linear model (logistic or ridge) on scaled dense features plus TF-IDF,
and a random forest on small data. The two best are also tried as an average. The winner is refit on
every training row and predicts the test rows.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import metrics
import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler
from task import Head
from threadpoolctl import threadpool_limits

#: Candidate selection uses at most this many rows; the final fit may use more.
MAX_SELECTION_ROWS = 60_000
MAX_FOREST_ROWS = 30_000
#: Below this many rows models run on one thread.
SMALL_DATA_ROWS = 50_000
SEED = 0


@dataclass
class Matrices:
    dense: np.ndarray
    text: sp.csr_matrix | None

    def __len__(self) -> int:
        return int(self.dense.shape[0])

    def rows(self, index: np.ndarray) -> Matrices:
        return Matrices(self.dense[index], None if self.text is None else self.text[index])


class Model:
    """fit(X, y) then predict(X): probabilities over all of the head's classes (n, k) for
    classification, numbers for regression."""

    name = "model"

    def __init__(self, n_classes: int, threads: int) -> None:
        self.n_classes = n_classes
        self.threads = threads

    def fit(self, x: Matrices, y: np.ndarray) -> None:
        raise NotImplementedError

    def predict(self, x: Matrices) -> np.ndarray:
        raise NotImplementedError

    def _aligned(self, fitted_classes: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Probabilities placed in the columns of the head's classes (a fold may lack some)."""
        out = np.zeros((probs.shape[0], self.n_classes), dtype=float)
        out[:, fitted_classes.astype(int)] = probs
        return out


class Constant(Model):
    name = "constant"

    def fit(self, x: Matrices, y: np.ndarray) -> None:
        if self.n_classes:
            counts = np.bincount(y.astype(int), minlength=self.n_classes) + 0.5
            self.value = counts / counts.sum()
        else:
            self.value = np.array(float(np.mean(y)))

    def predict(self, x: Matrices) -> np.ndarray:
        if self.n_classes:
            return np.tile(self.value, (len(x), 1))
        return np.full(len(x), float(self.value))


class Boosting(Model):
    name = "gradient-boosting"

    def fit(self, x: Matrices, y: np.ndarray) -> None:
        n = len(x)
        common: dict[str, Any] = {
            "max_iter": 200,
            "learning_rate": 0.1,
            "l2_regularization": 1.0,
            "min_samples_leaf": 20 if n >= 1000 else max(5, n // 50),
            "early_stopping": n >= 2000,
            "n_iter_no_change": 20,
            "random_state": SEED,
        }
        if self.n_classes:
            self.model: Any = HistGradientBoostingClassifier(**common)
        else:
            self.model = HistGradientBoostingRegressor(**common)
        self.model.fit(x.dense, y)

    def predict(self, x: Matrices) -> np.ndarray:
        if self.n_classes:
            return self._aligned(self.model.classes_, self.model.predict_proba(x.dense))
        return np.asarray(self.model.predict(x.dense), dtype=float)


class Forest(Model):
    name = "random-forest"

    def fit(self, x: Matrices, y: np.ndarray) -> None:
        self.imputer = SimpleImputer(strategy="median", keep_empty_features=True)
        dense = self.imputer.fit_transform(x.dense)
        common: dict[str, Any] = {"n_estimators": 300, "min_samples_leaf": 2, "n_jobs": self.threads}
        if self.n_classes:
            self.model: Any = RandomForestClassifier(max_features="sqrt", random_state=SEED, **common)
        else:
            self.model = RandomForestRegressor(max_features=0.5, random_state=SEED, **common)
        self.model.fit(dense, y)

    def predict(self, x: Matrices) -> np.ndarray:
        dense = self.imputer.transform(x.dense)
        if self.n_classes:
            return self._aligned(self.model.classes_, self.model.predict_proba(dense))
        return np.asarray(self.model.predict(dense), dtype=float)


class Linear(Model):
    """Logistic or ridge regression on standardised dense features (clipped, so outliers cannot
    dominate) next to the TF-IDF columns."""

    def __init__(self, n_classes: int, threads: int, strength: float) -> None:
        super().__init__(n_classes, threads)
        self.strength = strength
        self.name = f"linear(C={strength:g})" if n_classes else f"linear(alpha={1 / strength:g})"

    def _design(self, x: Matrices, fit: bool) -> Any:
        dense = x.dense
        if dense.shape[1]:
            if fit:
                self.imputer = SimpleImputer(strategy="median", keep_empty_features=True)
                self.scaler = StandardScaler()
                dense = self.scaler.fit_transform(self.imputer.fit_transform(dense))
            else:
                dense = self.scaler.transform(self.imputer.transform(dense))
            dense = np.clip(dense, -5, 5).astype(np.float32)
        if x.text is None:
            return dense
        return sp.hstack([sp.csr_matrix(dense), x.text], format="csr")

    def fit(self, x: Matrices, y: np.ndarray) -> None:
        design = self._design(x, fit=True)
        if self.n_classes:
            self.model: Any = LogisticRegression(C=self.strength, max_iter=2000)
        else:
            self.model = Ridge(alpha=1.0 / self.strength)
        self.model.fit(design, y)

    def predict(self, x: Matrices) -> np.ndarray:
        design = self._design(x, fit=False)
        if self.n_classes:
            return self._aligned(self.model.classes_, self.model.predict_proba(design))
        return np.asarray(self.model.predict(design), dtype=float)


@dataclass
class Outcome:
    """What selection found: each candidate's out-of-fold score, the winner, and its test predictions."""

    metric: str
    scores: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)
    validation: str = ""
    fit_rows: int = 0

    @property
    def best_score(self) -> float:
        return self.scores["+".join(self.chosen)]


def candidates(head: Head, x: Matrices, threads: int) -> list[Callable[[], Model]]:
    k = len(head.classes) if head.kind != "regression" else 0
    makers: list[Callable[[], Model]] = [lambda: Constant(k, threads)]
    has_dense = x.dense.shape[1] > 0
    if has_dense:
        makers.append(lambda: Boosting(k, threads))
    if x.text is not None:
        makers += [lambda: Linear(k, threads, 1.0), lambda: Linear(k, threads, 4.0)]
    elif has_dense:
        makers.append(lambda: Linear(k, threads, 1.0))
    if has_dense and len(x) <= MAX_FOREST_ROWS:
        makers.append(lambda: Forest(k, threads))
    return makers


def _splits(y: np.ndarray, classification: bool) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    n = len(y)
    if n > 20_000:
        index = np.arange(n)
        counts = np.bincount(y.astype(int)) if classification else np.array([])
        stratify = y if classification and counts[counts > 0].min() >= 2 else None
        try:
            train, valid = train_test_split(index, test_size=0.2, random_state=SEED, stratify=stratify)
        except ValueError:
            train, valid = train_test_split(index, test_size=0.2, random_state=SEED)
        return [(train, valid)], "20% holdout"
    folds = 5 if n <= 1000 else 3
    counts = np.bincount(y.astype(int)) if classification else np.array([])
    if classification and counts[counts > 0].min() >= folds:
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
        return list(splitter.split(np.zeros(n), y)), f"{folds}-fold stratified CV"
    splitter = KFold(n_splits=folds, shuffle=True, random_state=SEED)
    return list(splitter.split(np.zeros(n))), f"{folds}-fold CV"


def _evaluate(metric: str, head: Head, truth: np.ndarray, prediction: np.ndarray) -> float:
    if head.kind == "label" and prediction.ndim == 2:
        return metrics.score(metric, truth, prediction.argmax(axis=1))
    return metrics.score(metric, truth, prediction)


def select_and_predict(
    head: Head, x: Matrices, y: np.ndarray, x_test: Matrices, *, threads: int, seconds_left: Callable[[], float]
) -> tuple[np.ndarray, Outcome]:
    """Test predictions (probabilities (n, k), or numbers) of the best candidate, and how it was chosen."""
    if len(y) < SMALL_DATA_ROWS:
        # On small data extra threads only wait for each other, and on a busy machine spinning
        # OpenMP threads cost ten times the work (measured: 136 s instead of 13 s on demo-digits).
        threads = 1
    with threadpool_limits(threads):
        return _select_and_predict(head, x, y, x_test, threads=threads, seconds_left=seconds_left)


def _select_and_predict(
    head: Head, x: Matrices, y: np.ndarray, x_test: Matrices, *, threads: int, seconds_left: Callable[[], float]
) -> tuple[np.ndarray, Outcome]:
    classification = head.kind != "regression"
    metric = metrics.selection_metric(head.kind, head.metric)
    outcome = Outcome(metric=metric)
    rng = np.random.default_rng(SEED)
    selection = np.arange(len(y))
    if len(selection) > MAX_SELECTION_ROWS:
        selection = np.sort(rng.choice(len(y), MAX_SELECTION_ROWS, replace=False))
    xs, ys = x.rows(selection), y[selection]
    splits, outcome.validation = _splits(ys, classification)
    evaluated = np.concatenate([valid for _, valid in splits])
    truth = ys[evaluated]

    out_of_fold: dict[str, np.ndarray] = {}
    makers = {maker().name: maker for maker in candidates(head, x, threads)}
    for name, maker in makers.items():
        started = time.monotonic()
        # Guess a candidate's cost from the last one's; skip it when it would overrun the budget.
        guess = max(outcome.seconds.values(), default=0.0) * 1.5
        if name != "constant" and out_of_fold and seconds_left() < guess:
            outcome.skipped.append(name)
            continue
        parts = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fit_index, valid_index in splits:
                model = maker()
                model.fit(xs.rows(fit_index), ys[fit_index])
                parts.append(model.predict(xs.rows(valid_index)))
        prediction = np.concatenate(parts)
        out_of_fold[name] = prediction
        outcome.scores[name] = _evaluate(metric, head, truth, prediction)
        outcome.seconds[name] = round(time.monotonic() - started, 3)

    ranked = sorted(out_of_fold, key=lambda n: outcome.scores[n], reverse=metric not in metrics.LOWER_IS_BETTER)
    outcome.chosen = [ranked[0]]
    contenders = [n for n in ranked if n != "constant"][:2]
    if len(contenders) == 2:
        pair = "+".join(contenders)
        blended = (out_of_fold[contenders[0]] + out_of_fold[contenders[1]]) / 2
        outcome.scores[pair] = _evaluate(metric, head, truth, blended)
        if metrics.better(metric, outcome.scores[pair], outcome.scores[ranked[0]]):
            outcome.chosen = contenders

    # The final fit: every row, unless the selection's timing says that would overrun the budget.
    fit_rows = np.arange(len(y))
    per_row = sum(outcome.seconds[n] for n in outcome.chosen) / max(1, len(splits)) / max(1, len(ys))
    affordable = int(max(seconds_left(), 10.0) / max(per_row, 1e-9) / 1.5)
    if affordable < len(fit_rows):
        fit_rows = np.sort(rng.choice(len(y), max(affordable, min(len(y), 1000)), replace=False))
    outcome.fit_rows = len(fit_rows)
    fit_x, fit_y = (x, y) if len(fit_rows) == len(y) else (x.rows(fit_rows), y[fit_rows])
    predictions = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in outcome.chosen:
            model = makers[name]()
            model.fit(fit_x, fit_y)
            predictions.append(model.predict(x_test))
    return np.mean(predictions, axis=0), outcome
