"""Raw siim-isic-melanoma-classification: CSVs, DICOM and JPEG folders, and TFRecords of the training images."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score

from mleredux.competitions.lite.siim_isic_melanoma_classification import tfrecord_image_names
from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard

ID = "siim-isic-melanoma-classification"
SITES = ["torso", "lower extremity", "upper extremity", "head/neck", "palms/soles"]


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _crc32c_table()


def _masked_crc(data: bytes) -> bytes:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return struct.pack("<I", ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _example(features: dict[str, bytes | int]) -> bytes:
    entries = b""
    for key, value in features.items():
        if isinstance(value, bytes):
            feature = _ld(1, _ld(1, value))  # BytesList
        else:
            feature = _ld(3, _ld(1, _varint(value)))  # Int64List, packed
        entries += _ld(1, _ld(1, key.encode()) + _ld(2, feature))
    return _ld(1, entries)


def _tfrecord(examples: list[bytes]) -> bytes:
    out = b""
    for data in examples:
        length = struct.pack("<Q", len(data))
        out += length + _masked_crc(length) + data + _masked_crc(data)
    return out


def _jpeg(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def _dicom(name: str) -> bytes:
    return b"\0" * 128 + b"DICM" + name.encode()


def _meta(rng: np.random.Generator, names: list[str]) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame(
        {
            "image_name": names,
            "patient_id": [f"IP_{k:07d}" for k in rng.integers(0, 9999999, size=n)],
            "sex": rng.choice(["male", "female"], size=n),
            "age_approx": rng.choice([30.0, 45.0, 60.0, 75.0], size=n),
            "anatom_site_general_challenge": rng.choice(SITES, size=n),
        }
    )


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    names = [f"ISIC_{k:07d}" for k in rng.choice(9_999_999, size=74, replace=False)]
    train_names, test_names = names[:64], names[64:]
    train = _meta(rng, train_names)
    train["target"] = [int(i % 4 == 1) for i in range(64)]
    train["diagnosis"] = np.where(train["target"] == 1, "melanoma", "nevus")
    train["benign_malignant"] = np.where(train["target"] == 1, "malignant", "benign")
    train = train[[*train.columns[:5], "diagnosis", "benign_malignant", "target"]]
    train.to_csv(raw / "train.csv", index=False)
    _meta(rng, test_names).to_csv(raw / "test.csv", index=False)
    pd.DataFrame({"image_name": test_names, "target": 0}).to_csv(raw / "sample_submission.csv", index=False)
    for split, split_names in (("train", train_names), ("test", test_names)):
        (raw / split).mkdir()
        (raw / "jpeg" / split).mkdir(parents=True)
        for name in split_names:
            (raw / split / f"{name}.dcm").write_bytes(_dicom(name))
            (raw / "jpeg" / split / f"{name}.jpg").write_bytes(_jpeg(rng))
    (raw / "tfrecords").mkdir()
    # Records follow a shuffled order, not train.csv's, as Kaggle's do.
    order = rng.permutation(64)
    for f in range(8):
        rows = train.iloc[order[f * 8 : (f + 1) * 8]]
        examples = [
            _example({"image": _jpeg(rng), "image_name": r.image_name.encode(), "target": int(r.target)})
            for r in rows.itertuples()
        ]
        count = 2061 if f == 7 else 2071
        (raw / "tfrecords" / f"train{f:02d}-{count}.tfrec").write_bytes(_tfrecord(examples))
    test_examples = [_example({"image": _jpeg(rng), "image_name": n.encode()}) for n in test_names]
    (raw / "tfrecords" / "test00-687.tfrec").write_bytes(_tfrecord(test_examples))
    write_leaderboard(raw, ID, np.round(np.linspace(0.9490, 0.5, 300), 4))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["image_name", "target"]].astype({"target": float})


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="image_name", suffixes=("", "_p"))
    return float(roc_auc_score(merged["target"], merged["target_p"]))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 16 and len(train) == 48 and list(answers.columns) == ["image_name", "target"]
    assert list(test.columns) == ["image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge"]
    assert list(test["image_name"]) == list(answers["image_name"])
    test_names = set(answers["image_name"])
    assert not set(train["image_name"]) & test_names
    assert {p.stem for p in (public / "test").iterdir()} == test_names
    assert {p.stem for p in (public / "jpeg" / "test").iterdir()} == test_names
    assert {p.stem for p in (public / "train").iterdir()} == set(train["image_name"])
    records = sorted(p.name for p in (public / "tfrecords").iterdir())
    assert records == [f"train{i:02d}-{2061 if i == 5 else 2071}.tfrec" for i in range(6)]
    in_records = {n for r in records for n in tfrecord_image_names(public / "tfrecords" / r)}
    assert in_records == set(train["image_name"])


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "constant.csv"
    answers.assign(target=0.02).to_csv(path, index=False)
    assert grade_submission(path, ID, data_dir).score == 0.5


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=1.0,
    hidden=(("test.csv", "target"), ("test.csv", "diagnosis"), ("test.csv", "benign_malignant")),
    check_no_leak=no_leak,
    extra_checks=(constant_is_half,),
)
