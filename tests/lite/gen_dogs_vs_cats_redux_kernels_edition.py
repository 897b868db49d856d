"""Raw dogs-vs-cats-redux-kernels-edition: train.zip (train/cat.<n>.jpg, train/dog.<n>.jpg), test.zip."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "dogs-vs-cats-redux-kernels-edition"


def _jpeg(rng: np.random.Generator, shade: int) -> bytes:
    out = io.BytesIO()
    pixels = np.clip(rng.integers(0, 40, (8, 8, 3)) + shade, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    # Dogs are bright and cats dark, so the public images can be checked against the answers.
    files = {f"train/cat.{i}.jpg": _jpeg(rng, 0) for i in range(50)}
    files.update({f"train/dog.{i}.jpg": _jpeg(rng, 200) for i in range(50)})
    zip_files(raw / "train.zip", files)
    zip_files(raw / "test.zip", {f"test/{i}.jpg": _jpeg(rng, 100) for i in range(1, 13)})
    pd.DataFrame({"id": range(1, 13), "label": 0.5}).to_csv(raw / "sample_submission.csv", index=False)
    write_leaderboard(raw, ID, np.round(np.linspace(0.033, 0.69, 300), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", "label"]].astype({"label": float})


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    p = np.clip(merged["label_p"].to_numpy(dtype=float), np.finfo(float).eps, 1 - np.finfo(float).eps)
    y = merged["label"].to_numpy()
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def no_leak(public: Path, private: Path) -> None:
    answers = pd.read_csv(private / "answers.csv")
    assert len(answers) == 10 and set(answers["label"]) == {0, 1}
    test_names = {p.name for p in (public / "test").iterdir()}
    assert test_names == {f"{i}.jpg" for i in answers["id"]}
    assert sorted(answers["id"]) == list(range(1, 11))
    train_names = sorted(p.name for p in (public / "train").iterdir())
    assert len(train_names) == 90
    cats = sum(name.startswith("cat.") for name in train_names)
    assert {f"cat.{i}.jpg" for i in range(cats)} | {f"dog.{i}.jpg" for i in range(90 - cats)} == set(train_names)
    for image_id, label in zip(answers["id"], answers["label"], strict=True):
        bright = np.asarray(Image.open(public / "test" / f"{image_id}.jpg")).mean() > 100
        assert bright == bool(label)
    for name in train_names:
        assert (np.asarray(Image.open(public / "train" / name)).mean() > 100) == name.startswith("dog.")


def half_is_ln2(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "answers.csv")
    path = data_dir / "half.csv"
    answers.assign(label=0.5).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score is not None and abs((report.score_unrounded or 0) - math.log(2)) < 1e-12
    answers.assign(label=-0.1).to_csv(path, index=False)
    assert not grade_submission(path, ID, data_dir).valid_submission


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(),
    check_no_leak=no_leak,
    extra_checks=(half_is_ln2,),
)
