"""Raw ranzcr-clip-catheter-line-classification: train.csv, train_annotations.csv, train/ test/ JPEG X-rays."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score

from mleredux.competitions.lite.ranzcr_clip_catheter_line_classification import CLASSES
from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard

ID = "ranzcr-clip-catheter-line-classification"


def _jpeg(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), mode="L").save(out, format="JPEG")
    return out.getvalue()


def _uids(rng: np.random.Generator, n: int) -> list[str]:
    return [f"1.2.826.0.1.3680043.8.498.{rng.integers(10**17, 9 * 10**17)}{i:04d}" for i in range(n)]


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    n = 200
    uids = _uids(rng, n)
    train = pd.DataFrame({"StudyInstanceUID": uids})
    for name in CLASSES:
        train[name] = rng.choice([0, 1], size=n)
    train["PatientID"] = [f"ec89415d{k:x}" for k in rng.integers(0, 60, size=n)]
    train.to_csv(raw / "train.csv", index=False)
    annotated = train.sample(n=60, random_state=0)
    pd.DataFrame(
        {
            "StudyInstanceUID": annotated["StudyInstanceUID"],
            "label": rng.choice(list(CLASSES), size=60),
            "data": "[[1487, 1279], [1477, 1168], [1472, 1052]]",
        }
    ).to_csv(raw / "train_annotations.csv", index=False)
    test_uids = _uids(rng, 10)
    pd.DataFrame({"StudyInstanceUID": test_uids, **dict.fromkeys(CLASSES, 0)}).to_csv(
        raw / "sample_submission.csv", index=False
    )
    for folder, names in (("train", uids), ("test", test_uids)):
        (raw / folder).mkdir()
        for name in names:
            (raw / folder / f"{name}.jpg").write_bytes(_jpeg(rng))
    for folder in ("train_tfrecords", "test_tfrecords"):
        (raw / folder).mkdir()
        (raw / folder / "00-1881.tfrec").write_bytes(b"")
    write_leaderboard(raw, ID, np.round(np.linspace(0.975, 0.5, 300), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["StudyInstanceUID", *CLASSES]].astype(dict.fromkeys(CLASSES, float))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="StudyInstanceUID", suffixes=("", "_p"))
    return float(np.mean([roc_auc_score(merged[c], merged[f"{c}_p"]) for c in CLASSES]))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    answers = pd.read_csv(private / "test.csv")
    annotations = pd.read_csv(public / "train_annotations.csv")
    assert len(answers) == 20 and len(train) == 180
    assert list(answers.columns) == ["StudyInstanceUID", *CLASSES, "PatientID"]
    assert not set(train["StudyInstanceUID"]) & set(answers["StudyInstanceUID"])
    assert set(annotations["StudyInstanceUID"]) <= set(train["StudyInstanceUID"])
    assert 0 < len(annotations) < 60
    assert {p.stem for p in (public / "test").iterdir()} == set(answers["StudyInstanceUID"])
    assert {p.stem for p in (public / "train").iterdir()} == set(train["StudyInstanceUID"])


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "constant.csv"
    answers[["StudyInstanceUID"]].assign(**dict.fromkeys(CLASSES, 0.2)).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5
    answers[["StudyInstanceUID"]].assign(**dict.fromkeys(CLASSES, 2.0)).to_csv(path, index=False)
    assert not grade_submission(path, ID, data_dir).valid_submission


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(),
    check_no_leak=no_leak,
    extra_checks=(constant_is_half,),
)
