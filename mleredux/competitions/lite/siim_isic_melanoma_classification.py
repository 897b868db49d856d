"""siim-isic-melanoma-classification: is a skin lesion melanoma; ROC AUC.

Split (MLE-bench's): Kaggle's training images are also shipped as 16 TFRecord files; the images
recorded in `tfrecords/train00-2071.tfrec` and `tfrecords/train06-2071.tfrec` (4,142 of 33,126,
about 12.5%) become the test set, the rest stay in train. Both keep the row order of Kaggle's
`train.csv`. Test DICOMs and JPEGs move to the public `test/` and `jpeg/test/`; the other 14
training TFRecords are renumbered `train00…train13` (the record count in the name kept). The
public `test.csv` keeps Kaggle's test columns; the answers are `image_name, target`; the sample
submission predicts 0.

Unlike MLE-bench, the two test TFRecords are not published (as `tfrecords/test00…`, `test01…`):
their records carry each image's `target` and `diagnosis`, i.e. the answers. The image names are
read from the records with a small protobuf reader (no TensorFlow needed).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_probabilities
from mleredux.competitions.lite._images import media_files, place_all, raw_file
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.grading.metrics import roc_auc

TARGET = "target"
#: The training TFRecords whose images MLE-bench holds out as its test set.
TEST_RECORDS = ("train00-2071.tfrec", "train06-2071.tfrec")
TEST_COLUMNS = ["image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge"]

DESCRIPTION = """\
# SIIM-ISIC melanoma classification

Dermoscopic photographs of skin lesions from over 2,000 patients, with a little patient
context. Melanoma is the deadliest skin cancer; find it. For every test image, predict the
probability that the lesion is malignant. Patients usually have several images, and comparing a
lesion with the same patient's other lesions can help.

## Files
- `train.csv`: `image_name`, `patient_id`, `sex`, `age_approx`, `anatom_site_general_challenge`,
  `diagnosis`, `benign_malignant`, `target` (1 = malignant).
- `test.csv`: the same without `diagnosis`, `benign_malignant` and `target`.
- `train/`, `test/`: the images as DICOM files, `<image_name>.dcm` (image and metadata).
- `jpeg/train/`, `jpeg/test/`: the same images as JPEG.
- `tfrecords/`: the training images, resized to 1024x1024, as TFRecord files
  `trainNN-<count>.tfrec` (with `image_name`, metadata and `target`).
- `sample_submission.csv`: `image_name,target`, one row per test image.

## Evaluation
Area under the ROC curve between the predicted probability (`target`, in [0, 1]) and the truth;
higher is better.
"""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, memoryview | None]]:
    """(field number, payload of a length-delimited field or None) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
            yield key >> 3, None
        elif wire == 1:
            pos += 8
            yield key >> 3, None
        elif wire == 5:
            pos += 4
            yield key >> 3, None
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield key >> 3, buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _image_name(example: memoryview) -> str:
    """The `image_name` bytes feature of a serialized tf.train.Example."""
    for number, features in _fields(example):
        if number != 1 or features is None:
            continue
        for entry_number, entry in _fields(features):
            if entry_number != 1 or entry is None:
                continue
            parts = dict(_fields(entry))
            key, feature = parts.get(1), parts.get(2)
            if key is None or bytes(key) != b"image_name" or feature is None:
                continue
            for kind, values in _fields(feature):
                if kind == 1 and values is not None:  # BytesList
                    for _, value in _fields(values):
                        if value is not None:
                            return bytes(value).decode()
    raise ValueError("a TFRecord example has no image_name")


def tfrecord_image_names(path: Path) -> list[str]:
    """The image names stored in a TFRecord file (length, CRC, example, CRC per record)."""
    names = []
    with path.open("rb") as stream:
        while header := stream.read(12):
            if len(header) < 12:
                raise RawFileMissingError(f"{path} is truncated")
            (length,) = struct.unpack("<Q", header[:8])
            data = stream.read(length)
            stream.read(4)
            if len(data) < length:
                raise RawFileMissingError(f"{path} is truncated")
            names.append(_image_name(memoryview(data)))
    return names


class SiimIsicMelanomaClassification(Competition):
    info = supported_entry("siim-isic-melanoma-classification")
    id_column = "image_name"
    target_columns = (TARGET,)

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        labelled = pd.read_csv(raw_file(raw, "train.csv"))
        records = media_files(raw, "tfrecords", ".tfrec")
        held_out: set[str] = set()
        for name in TEST_RECORDS:
            if name not in records:
                raise RawFileMissingError(f"the raw data lacks tfrecords/{name}")
            held_out.update(tfrecord_image_names(records[name]))
        is_test = labelled["image_name"].isin(held_out)
        train, test = labelled[~is_test], labelled[is_test]

        dicoms = media_files(raw, "train", ".dcm")
        jpegs = media_files(raw, "jpeg/train", ".jpg")
        for frame, split in ((train, "train"), (test, "test")):
            names = list(frame["image_name"])
            place_all(dicoms, ((f"{n}.dcm", f"{n}.dcm") for n in names), public / split)
            place_all(jpegs, ((f"{n}.jpg", f"{n}.jpg") for n in names), public / "jpeg" / split)
        kept = sorted(n for n in records if n.startswith("train") and n not in TEST_RECORDS)
        place_all(
            records,
            ((name, f"train{i:02d}-{Path(name).stem.split('-')[1]}.tfrec") for i, name in enumerate(kept)),
            public / "tfrecords",
        )

        train.to_csv(public / "train.csv", index=False)
        test[TEST_COLUMNS].to_csv(public / "test.csv", index=False)
        test[["image_name"]].assign(**{TARGET: 0}).to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test[["image_name", TARGET]].to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_probabilities(submission, [TARGET])

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return roc_auc(answers[TARGET].to_numpy(), submission[TARGET].to_numpy())


register(SiimIsicMelanomaClassification())
