"""Raw mlsp-2013-birds: mlsp_contest_dataset.zip with essential_data/ and supplemental_data/, as Kaggle ships it.

40 recordings (Kaggle has 645): 25 in the training fold, of which MLE-bench's split holds out
round(0.2 * 25) = 5, so the answers have 5 * 19 rows.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "mlsp-2013-birds"
N_RECORDINGS = 40
TOP = "mlsp_contest_dataset"
SPECIES = [(0, "BRCR", "Brown Creeper"), (1, "PAWR", "Pacific Wren"), (2, "PSFL", "Pacific-slope Flycatcher")] + [
    (k, f"SP{k:02d}", f"Species {k}") for k in range(3, 19)
]
#: Recordings with a hand-drawn segmentation example (Kaggle has 20 of them).
SEGMENTED_EXAMPLES = (0, 2, 5)


def _wav(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(16000)
        clip.writeframes(rng.integers(-300, 300, size=32).astype("<i2").tobytes())
    return out.getvalue()


def _bmp(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (4, 6), dtype=np.uint8)).save(out, format="BMP")
    return out.getvalue()


def _folds(rng: np.random.Generator) -> np.ndarray:
    folds = np.ones(N_RECORDINGS, dtype=int)
    folds[rng.permutation(N_RECORDINGS)[:25]] = 0
    return folds


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    folds = _folds(rng)
    filenames = [f"PC{1 + i % 13}_2009{6 + i % 4:02d}{1 + i:02d}_0{i:05d}_00{i % 10}0" for i in range(N_RECORDINGS)]
    essential, supplemental = f"{TOP}/essential_data", f"{TOP}/supplemental_data"
    files: dict[str, bytes] = {}
    folds_csv = pd.DataFrame({"rec_id": range(N_RECORDINGS), "fold": folds}).to_csv(index=False)
    files[f"{essential}/CVfolds_2.txt"] = folds_csv.encode()
    names_csv = pd.DataFrame({"rec_id": range(N_RECORDINGS), "filename": filenames}).to_csv(index=False)
    files[f"{essential}/rec_id2filename.txt"] = names_csv.encode()
    label_lines = ["rec_id,[labels]"]
    for rec_id in range(N_RECORDINGS):
        if folds[rec_id] == 1:
            label_lines.append(f"{rec_id},?")
            continue
        count = int(rng.choice([0, 1, 1, 2, 3]))
        present = sorted(int(s) for s in rng.choice(19, size=count, replace=False))
        label_lines.append(",".join(str(v) for v in [rec_id, *present]))
    files[f"{essential}/rec_labels_test_hidden.txt"] = ("\n".join(label_lines) + "\n").encode()
    species = "class_id,code,species\n" + "".join(f"{k},{code},{name}\n" for k, code, name in SPECIES)
    files[f"{essential}/species_list.txt"] = species.encode()
    for rec_id, filename in enumerate(filenames):
        files[f"{essential}/src_wavs/{filename}.wav"] = _wav(rng)
        for folder in ("filtered_spectrograms", "spectrograms", "supervised_segmentation"):
            files[f"{supplemental}/{folder}/{filename}.bmp"] = _bmp(rng)
        if rec_id in SEGMENTED_EXAMPLES:
            files[f"{supplemental}/segmentation_examples/{filename}.bmp"] = _bmp(rng)
    files[f"{supplemental}/segment_clusters.bmp"] = _bmp(rng)
    files[f"{supplemental}/segment_mosaic.bmp"] = _bmp(rng)
    histogram = ["rec_id,[histogram of segment features]"]
    histogram += [f"{r}," + ",".join(f"{v:.6f}" for v in rng.dirichlet(np.ones(4))) for r in range(N_RECORDINGS)]
    features, rectangles = ["rec_id,segment_id,[feature vector]"], ["rec_id,segment_id,min_x,max_x,min_y,max_y"]
    for rec_id in range(N_RECORDINGS):
        for segment in range(int(rng.integers(0, 3))):  # some recordings have no segment
            features.append(f"{rec_id},{segment}," + ",".join(f"{v:.6f}" for v in rng.random(3)))
            rectangles.append(f"{rec_id},{segment},{segment},{segment + 9},10,20")
    files[f"{supplemental}/histogram_of_segments.txt"] = ("\n".join(histogram) + "\n").encode()
    files[f"{supplemental}/segment_features.txt"] = ("\n".join(features) + "\n").encode()
    files[f"{supplemental}/segment_rectangles.txt"] = ("\n".join(rectangles) + "\n").encode()
    files[f"{TOP}/README.txt"] = b"MLSP 2013 bird classification challenge dataset.\n"
    zip_files(raw / "mlsp_contest_dataset.zip", files)
    (raw / "mlsp13birdchallenge_documentation.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    write_leaderboard(raw, ID, np.round(np.linspace(0.95611, 0.45, 79), 5))


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["Id", "Probability"]].astype({"Probability": float})


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """The share of (positive, negative) pairs ranked right, ties counting one half."""
    positive, negative = score[truth == 1], score[truth == 0]
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(wins / (len(positive) * len(negative)))


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="Id", suffixes=("", "_p"))
    assert len(merged) == len(answers)
    return _auc(merged["Probability"].to_numpy(), merged["Probability_p"].to_numpy(dtype=float))


def _read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def no_leak(public: Path, private: Path) -> None:
    answers = pd.read_csv(private / "answers.csv")
    sample = pd.read_csv(public / "sample_submission.csv")
    essential, supplemental = public / "essential_data", public / "supplemental_data"
    folds = pd.read_csv(essential / "CVfolds_2.txt")
    assert list(folds.columns) == ["rec_id", "fold"] and list(folds["rec_id"]) == list(range(25))
    test_ids = set(folds.loc[folds["fold"] == 1, "rec_id"])
    assert len(test_ids) == 5 and len(answers) == 5 * 19
    assert set(answers["Id"] // 100) == test_ids and set(answers["Id"] % 100) == set(range(19))
    assert set(sample["Id"]) == set(answers["Id"]) and (sample["Probability"] == 0).all()
    assert 0 < answers["Probability"].sum() < len(answers)
    # Test labels are hidden; the training labels are the raw ones, renumbered.
    lines = _read_lines(essential / "rec_labels_test_hidden.txt")
    assert lines[0] == "rec_id,[labels]" and len(lines) == 26
    for line in lines[1:]:
        rec_id, _, labels = line.partition(",")
        assert (labels == "?") == (int(rec_id) in test_ids), line
    names = pd.read_csv(essential / "rec_id2filename.txt")
    assert list(names["rec_id"]) == list(range(25))
    assert {p.stem for p in (essential / "src_wavs").iterdir()} == set(names["filename"])
    for folder in ("filtered_spectrograms", "spectrograms", "supervised_segmentation"):
        assert {p.stem for p in (supplemental / folder).iterdir()} == set(names["filename"])
    assert {p.stem for p in (supplemental / "segmentation_examples").iterdir()} <= set(names["filename"])
    assert (supplemental / "segment_mosaic.bmp").is_file() and (supplemental / "segment_clusters.bmp").is_file()
    assert len(_read_lines(essential / "species_list.txt")) == 20
    histogram = _read_lines(supplemental / "histogram_of_segments.txt")
    assert histogram[0] == "rec_id,[histogram of segment features]"
    assert [int(line.split(",")[0]) for line in histogram[1:]] == list(range(25))
    assert _read_lines(supplemental / "segment_rectangles.txt")[0].startswith("rec_id,segment_id,min_x")
    for name in ("segment_features.txt", "segment_rectangles.txt"):
        assert {int(line.split(",")[0]) for line in _read_lines(supplemental / name)[1:]} <= set(range(25))


def constant_is_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "answers.csv")
    path = data_dir / "constant.csv"
    answers[["Id"]].assign(Probability=0.7).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score == 0.5
    answers[["Id"]].assign(Probability=answers["Probability"] - 0.5).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "'Probability' has" in (report.invalid_reason or "")
    assert "outside [0, 1]" in (report.invalid_reason or "")
    # The AUC is pooled over all rows, not averaged per species: compare with the pooled value.
    rng = np.random.default_rng(0)
    scores = rng.random(len(answers))
    answers[["Id"]].assign(Probability=scores).to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert report.score_unrounded == roc_auc_score(answers["Probability"], scores)
    assert report.score == round(report.score_unrounded, 5)


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
