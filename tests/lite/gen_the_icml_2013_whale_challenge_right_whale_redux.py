"""Raw the-icml-2013-whale-challenge-right-whale-redux: train2.zip and test2.zip of AIFF clips, sampleSubmission.csv."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "the-icml-2013-whale-challenge-right-whale-redux"
DAYS = ("20090328", "20090329", "20090330", "20090331")


def _aiff(samples: np.ndarray) -> bytes:
    """A mono 16-bit AIFF file at 2 kHz (the sample rate as an 80-bit IEEE extended float)."""
    rate = b"\x40\x09\xfa\x00\x00\x00\x00\x00\x00\x00"  # 2000.0
    comm = struct.pack(">hIh", 1, len(samples), 16) + rate
    data = samples.astype(">i2").tobytes()
    ssnd = struct.pack(">II", 0, 0) + data
    chunks = b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", 4 + len(chunks)) + b"AIFF" + chunks


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    files: dict[str, bytes] = {}
    index = 0
    for day in DAYS:
        for k in range(12):
            seconds = int(rng.integers(0, 86400))
            stamp = f"{seconds // 3600:02d}{seconds % 3600 // 60:02d}00"
            label = int(rng.random() < 0.3) if k > 1 else k  # each day has both labels
            name = f"{day}_{stamp}_{seconds % 60:03d}s{k}ms_TRAIN{index}_{label}.aif"
            files[f"train2/{name}"] = _aiff(rng.integers(-300, 300, size=16))
            index += 1
    zip_files(raw / "train2.zip", files)
    tests = {f"test2/20090401_{i:06d}_000s0ms_Test{i}.aif": _aiff(np.zeros(16)) for i in range(6)}
    zip_files(raw / "test2.zip", tests)
    clips = [Path(name).name for name in tests]
    pd.DataFrame({"clip": clips, "probability": 0}).to_csv(raw / "sampleSubmission.csv", index=False)
    write_leaderboard(raw, ID, np.round(np.linspace(0.9898, 0.5, 250), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["clip", "probability"]].astype({"probability": float})


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="clip", suffixes=("", "_p"))
    return float(roc_auc_score(merged["probability"], merged["probability_p"]))


def no_leak(public: Path, private: Path) -> None:
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 24
    assert all(c.startswith(DAYS[2]) or c.startswith(DAYS[3]) for c in answers["clip"])
    assert {p.name for p in (public / "test2").iterdir()} == set(answers["clip"])
    assert all(c.endswith(f"_Test{i}.aif") for i, c in enumerate(answers["clip"]))
    assert list(answers["clip"]) == sorted(answers["clip"], key=lambda c: c.split("_Test")[0])
    train = sorted((public / "train2").iterdir())
    assert len(train) == 24 and all(p.name.startswith(DAYS[:2]) for p in train)
    assert {int(p.name.split("TRAIN")[1].split("_")[0]) for p in train} == set(range(24))


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "constant.csv"
    answers.assign(probability=0.4).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5


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
