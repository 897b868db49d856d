"""Raw denoising-dirty-documents: train.zip, train_cleaned.zip and test.zip of greyscale PNGs, sampleSubmission.csv.zip.

Ten tiny pages (Kaggle has 144 of 540 x 258 or 420 pixels) with numeric names of one to three
digits, so the text ordering of file names ("101.png" < "2.png") matters for the split.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import train_test_split

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "denoising-dirty-documents"
NAMES = ("2", "3", "5", "14", "20", "38", "101", "110", "123", "216")
SHAPES = ((4, 6), (3, 5))


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(out, format="PNG")
    return out.getvalue()


def _pages(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    pages = {}
    for k, name in enumerate(NAMES):
        shape = SHAPES[k % 2]
        clean = np.where(rng.random(shape) < 0.2, rng.integers(0, 60, shape), 255)
        noisy = np.clip(clean - rng.integers(0, 90, shape), 0, 255)
        pages[name] = (noisy, clean)
    return pages


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    pages = _pages(rng)
    zip_files(raw / "train.zip", {f"train/{n}.png": _png(noisy) for n, (noisy, _) in pages.items()})
    zip_files(raw / "train_cleaned.zip", {f"train_cleaned/{n}.png": _png(clean) for n, (_, clean) in pages.items()})
    test = {name: np.clip(255 - rng.integers(0, 90, (3, 4)), 0, 255) for name in ("1", "4", "7")}
    zip_files(raw / "test.zip", {f"test/{n}.png": _png(pixels) for n, pixels in test.items()})
    ids = [f"{n}_{r}_{c}" for n, pixels in test.items() for r in range(1, 4) for c in range(1, 5)]
    sample = pd.DataFrame({"id": ids, "value": 1})
    zip_files(raw / "sampleSubmission.csv.zip", {"sampleSubmission.csv": sample.to_csv(index=False).encode()})
    write_leaderboard(raw, ID, np.round(np.linspace(0.00994, 0.32, 161), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", "value"]]


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    assert len(merged) == len(answers)
    return float(np.sqrt(np.mean((merged["value"].to_numpy() - merged["value_p"].to_numpy(dtype=float)) ** 2)))


def no_leak(public: Path, private: Path) -> None:
    answers = pd.read_csv(private / "answers.csv")
    held_out = train_test_split(sorted(f"{n}.png" for n in NAMES), test_size=0.2, random_state=0)[1]
    test = {p.name for p in (public / "test").iterdir()}
    assert test == set(held_out) and len(test) == 2
    assert {p.name for p in (public / "train").iterdir()} == {f"{n}.png" for n in NAMES} - test
    assert {p.name for p in (public / "train_cleaned").iterdir()} == {f"{n}.png" for n in NAMES} - test
    # One row per pixel of each clean test page, row by row, in file-name order, value = grey / 255.
    rows = []
    for name in sorted(test):
        width, height = Image.open(public / "test" / name).size
        rows += [f"{Path(name).stem}_{r}_{c}" for r in range(1, height + 1) for c in range(1, width + 1)]
    assert list(answers["id"]) == rows
    values = answers["value"].to_numpy()
    assert ((values >= 0) & (values <= 1)).all() and np.allclose(values * 255, np.round(values * 255))
    assert not (public / "test.csv").exists() and not (private / "train_cleaned").exists()


def clean_pages_match_the_answers(data_dir: Path) -> None:
    root = prepared_dir(ID, data_dir)
    answers = pd.read_csv(root / "private" / "answers.csv")
    pages = _pages(np.random.default_rng(42))  # the raw tree of the tests is written with seed 42
    for name in {i.split("_")[0] for i in answers["id"]}:
        clean = pages[name][1]
        mine = answers[answers["id"].str.startswith(f"{name}_")]["value"].to_numpy()
        assert np.array_equal(mine, clean.reshape(-1) / 255.0), name
    path = data_dir / "shifted.csv"
    answers.assign(value=answers["value"] + 0.1).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score_unrounded is not None and abs(report.score_unrounded - 0.1) < 1e-9


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(),
    check_no_leak=no_leak,
    extra_checks=(clean_pages_match_the_answers,),
)
