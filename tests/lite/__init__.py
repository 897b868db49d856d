"""Generators of raw competition data in Kaggle's own layout, one module per Lite competition.

Each module defines `SPEC`, a `LiteSpec`. `tests/test_lite_competitions.py` runs the same checks on
every spec: prepare from the generated raw files, no leak into public, the sample submission scores
the constant-prediction score computed here independently, a perfect submission scores the best,
row and column order do not matter, and malformed submissions are rejected with their reason.
"""

from __future__ import annotations

import importlib
import pkgutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd

Frame: TypeAlias = pd.DataFrame


@dataclass(frozen=True)
class LiteSpec:
    competition_id: str
    #: Write a small raw tree exactly as Kaggle ships it (file names, columns, zips) into the dir.
    write_raw: Callable[[Path, np.random.Generator], None]
    #: A submission that scores `best_score`, built from (answers, sample submission).
    perfect: Callable[[Frame, Frame], Frame]
    #: The sample submission's score, computed independently of the grader (e.g. with numpy).
    sample_score: Callable[[Frame, Frame], float]
    best_score: float
    #: (public file, column): columns that must not appear in the public test file.
    hidden: tuple[tuple[str, str], ...] = ()
    #: Check that no test id appears in public train: (public, private) -> None, raising AssertionError.
    check_no_leak: Callable[[Path, Path], None] | None = None
    #: Extra checks on a prepared data dir (e.g. uniform probabilities give ln K).
    extra_checks: tuple[Callable[[Path], None], ...] = field(default_factory=tuple)


def write_leaderboard(raw: Path, competition_id: str, scores: np.ndarray) -> None:
    """A leaderboard in Kaggle's download layout, beside the data."""
    board = pd.DataFrame(
        {
            "TeamId": np.arange(len(scores)),
            "TeamName": [f"team-{i}" for i in range(len(scores))],
            "SubmissionDate": "2020-01-01 00:00:00",
            "Score": scores,
        }
    )
    board.to_csv(raw / f"{competition_id}-publicleaderboard.csv", index=False)


def zip_files(archive: Path, files: dict[str, bytes]) -> None:
    """Write `files` (name -> content) into a zip, as Kaggle nests train.csv in train.csv.zip."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name, content in files.items():
            out.writestr(name, content)


def all_specs() -> list[LiteSpec]:
    specs = []
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        if hasattr(loaded, "SPEC"):
            specs.append(loaded.SPEC)
    return sorted(specs, key=lambda s: s.competition_id)
