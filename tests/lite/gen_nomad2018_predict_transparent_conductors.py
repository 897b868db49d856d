"""Raw nomad2018-predict-transparent-conductors: train.csv.zip, test.csv.zip, train.zip and test.zip
holding `<split>/<id>/geometry.xyz`, sample_submission.csv.zip, as Kaggle ships them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import prepared_dir
from tests.lite import LiteSpec, write_leaderboard, zip_files

ID = "nomad2018-predict-transparent-conductors"
TARGETS = ["formation_energy_ev_natom", "bandgap_energy_ev"]
FEATURES = [
    "spacegroup",
    "number_of_total_atoms",
    "percent_atom_al",
    "percent_atom_ga",
    "percent_atom_in",
    "lattice_vector_1_ang",
    "lattice_vector_2_ang",
    "lattice_vector_3_ang",
    "lattice_angle_alpha_degree",
    "lattice_angle_beta_degree",
    "lattice_angle_gamma_degree",
]
N_TRAIN = 200


def _materials(rng: np.random.Generator, n: int, labelled: bool) -> pd.DataFrame:
    al = rng.choice([0.0, 0.125, 0.25, 0.5, 0.625], size=n)
    ga = np.round((1 - al) * rng.choice([0.0, 0.25, 0.5, 1.0], size=n), 4)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "spacegroup": rng.choice([12, 33, 167, 194, 206, 227], size=n),
            "number_of_total_atoms": rng.choice([10.0, 20.0, 30.0, 40.0, 60.0, 80.0], size=n),
            "percent_atom_al": al,
            "percent_atom_ga": ga,
            "percent_atom_in": np.round(1 - al - ga, 4),
            "lattice_vector_1_ang": np.round(rng.uniform(3.0, 24.0, n), 4),
            "lattice_vector_2_ang": np.round(rng.uniform(2.9, 10.3, n), 4),
            "lattice_vector_3_ang": np.round(rng.uniform(5.7, 25.4, n), 4),
            "lattice_angle_alpha_degree": np.round(rng.uniform(85.0, 106.0, n), 4),
            "lattice_angle_beta_degree": np.round(rng.uniform(82.0, 106.0, n), 4),
            "lattice_angle_gamma_degree": np.round(rng.uniform(29.0, 120.0, n), 4),
        }
    )
    if labelled:
        frame["formation_energy_ev_natom"] = np.round(rng.uniform(0.0, 0.66, n), 4)
        frame.loc[:4, "formation_energy_ev_natom"] = 0.0
        frame["bandgap_energy_ev"] = np.round(rng.uniform(0.0, 5.3, n), 4)
    return frame


def _xyz(row: dict[str, float], rng: np.random.Generator) -> bytes:
    """A geometry file whose first lattice vector's x is the row's `lattice_vector_1_ang`."""
    a, b, c = row["lattice_vector_1_ang"], row["lattice_vector_2_ang"], row["lattice_vector_3_ang"]
    lines = [
        "#=======================================================",
        "#Created using the Atomic Simulation Environment (ASE)",
        "#=======================================================",
        f"lattice_vector {a:.16f} 0.0000000000000000 0.0000000000000000 ",
        f"lattice_vector 0.0000000000000000 {b:.16f} 0.0000000000000000 ",
        f"lattice_vector 0.0000000000000000 0.0000000000000000 {c:.16f} ",
    ]
    for element in rng.choice(["Al", "Ga", "In", "O"], size=4):
        x, y, z = rng.uniform(0, 5, 3)
        lines.append(f"atom {x:.16f} {y:.16f} {z:.16f} {element}")
    return ("\n".join(lines) + "\n").encode()


def write_raw(raw: Path, rng: np.random.Generator) -> None:
    train = _materials(rng, N_TRAIN, labelled=True)
    test = _materials(rng, 30, labelled=False)
    zip_files(raw / "train.csv.zip", {"train.csv": train.to_csv(index=False).encode()})
    zip_files(raw / "test.csv.zip", {"test.csv": test.to_csv(index=False).encode()})
    zip_files(raw / "train.zip", {f"train/{int(r['id'])}/geometry.xyz": _xyz(r, rng) for r in _rows(train)})
    zip_files(raw / "test.zip", {f"test/{int(r['id'])}/geometry.xyz": _xyz(r, rng) for r in _rows(test)})
    sample = pd.DataFrame({"id": test["id"], "formation_energy_ev_natom": 0.1779, "bandgap_energy_ev": 1.8892})
    zip_files(raw / "sample_submission.csv.zip", {"sample_submission.csv": sample.to_csv(index=False).encode()})
    write_leaderboard(raw, ID, np.round(np.linspace(0.0509, 0.35, 880), 5))


def _rows(frame: pd.DataFrame) -> list[dict[str, float]]:
    return [{str(k): float(v) for k, v in row.items()} for row in frame.to_dict("records")]


def perfect(answers: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    return answers[["id", *TARGETS]]


def sample_score(answers: pd.DataFrame, sample: pd.DataFrame) -> float:
    merged = answers.merge(sample, on="id", suffixes=("", "_p"))
    errors = [
        np.sqrt(np.mean((np.log(1 + merged[f"{t}_p"].to_numpy()) - np.log(1 + merged[t].to_numpy())) ** 2))
        for t in TARGETS
    ]
    return float(np.mean(errors))


def no_leak(public: Path, private: Path) -> None:
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(answers) == 20 and len(train) == N_TRAIN - 20
    assert list(train["id"]) == list(range(1, len(train) + 1))
    assert list(answers["id"]) == list(range(1, len(answers) + 1)) == list(test["id"])
    assert list(answers.columns) == ["id", *FEATURES, *TARGETS]
    assert list(test.columns) == ["id", *FEATURES]
    # Ids are renumbered, so materials are told apart by their features.
    key = ["lattice_vector_1_ang", "lattice_vector_2_ang", "lattice_vector_3_ang"]
    assert not set(map(tuple, train[key].to_numpy())) & set(map(tuple, answers[key].to_numpy()))
    # Each renumbered material carries its own geometry: its first lattice vector is in the CSV.
    for split, frame in (("train", train), ("test", test)):
        assert {p.name for p in (public / split).iterdir()} == {str(i) for i in frame["id"]}
        for row in _rows(frame):
            first = (public / split / str(int(row["id"])) / "geometry.xyz").read_text().splitlines()[3]
            assert float(first.split()[1]) == row["lattice_vector_1_ang"], (split, row["id"])


def negative_is_rejected(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "negative.csv"
    bad = answers[["id", *TARGETS]].copy()
    bad.loc[:2, "bandgap_energy_ev"] = -0.5
    bad.to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    assert not report.valid_submission and "'bandgap_energy_ev' has 3 negative values" in (report.invalid_reason or "")


def one_target_wrong_counts_half(data_dir: Path) -> None:
    answers = pd.read_csv(prepared_dir(ID, data_dir) / "private" / "test.csv")
    path = data_dir / "half.csv"
    sub = answers[["id", *TARGETS]].assign(bandgap_energy_ev=answers["bandgap_energy_ev"] + 1.0)
    sub.to_csv(path, index=False)
    report = grade_submission(path, ID, data_dir)
    truth = answers["bandgap_energy_ev"].to_numpy()
    expected = np.sqrt(np.mean((np.log(2 + truth) - np.log(1 + truth)) ** 2)) / 2
    assert report.score_unrounded is not None and abs(report.score_unrounded - expected) < 1e-12


SPEC = LiteSpec(
    competition_id=ID,
    write_raw=write_raw,
    perfect=perfect,
    sample_score=sample_score,
    best_score=0.0,
    hidden=(("test.csv", "formation_energy_ev_natom"), ("test.csv", "bandgap_energy_ev")),
    check_no_leak=no_leak,
    extra_checks=(negative_is_rejected, one_target_wrong_counts_half),
)
