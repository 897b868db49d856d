"""nomad2018-predict-transparent-conductors: formation energy and band gap of (Al, Ga, In) oxides.

Split (as MLE-bench documents it): Kaggle's labelled `train.csv` (2,400 materials) is split with
`train_test_split(test_size=0.1, random_state=0)`; the 10% become the test set. Both parts are then
renumbered `1, 2, ...` in their shuffled row order (so train and test ids overlap as numbers, as in
Kaggle's own files), and each material's `train/<old id>/geometry.xyz` is copied to
`public/train/<new id>/geometry.xyz` or `public/test/<new id>/geometry.xyz`. Kaggle's own unlabelled
test set is not used. The answers (`private/test.csv`) are the whole test rows, features included;
the sample submission predicts the constants 0.1779 and 1.8892 for every material.

Metric: the mean over the two targets of each target's root mean squared logarithmic error,
`sqrt(mean((log(1 + p) - log(1 + a))^2))`.

Deliberate differences from MLE-bench:
- MLE-bench pairs submission and answers rows by position (its grader never sorts by id), so a
  submission in another row order gets a wrong score there; we match rows by id.
- Negative predictions are an invalid submission here. Both targets are non-negative energies and
  the log of `1 + p` is the metric; MLE-bench's result for them depends on the installed
  scikit-learn (older versions raise, newer ones score values above -1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mleredux.competitions.base import Competition
from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.checks import check_non_negative
from mleredux.competitions.lite._images import place, raw_file
from mleredux.competitions.raw import RawData, RawFileMissingError
from mleredux.competitions.registry import register
from mleredux.competitions.split import train_test_split
from mleredux.grading.metrics import mean_columnwise_rmsle

TARGETS = ("formation_energy_ev_natom", "bandgap_energy_ev")
#: The constant predictions of MLE-bench's sample submission.
SAMPLE_VALUES = {"formation_energy_ev_natom": 0.1779, "bandgap_energy_ev": 1.8892}

DESCRIPTION = """\
# Predicting transparent conductors (NOMAD 2018)

Transparent conductors combine electrical conductivity with transparency to visible light. The
materials here are sesquioxides of aluminium, gallium and indium, `(Al_x Ga_y In_z)_2N O_3N`. For
each material, predict two properties computed with density-functional theory: the formation
energy per atom (`formation_energy_ev_natom`, in eV, an indication of stability) and the band gap
(`bandgap_energy_ev`, in eV, an indication of transparency).

## Files
- `train.csv`: `id`, `spacegroup`, `number_of_total_atoms`, `percent_atom_al`, `percent_atom_ga`,
  `percent_atom_in`, `lattice_vector_1_ang`, `lattice_vector_2_ang`, `lattice_vector_3_ang`,
  `lattice_angle_alpha_degree`, `lattice_angle_beta_degree`, `lattice_angle_gamma_degree`, and the
  two targets.
- `test.csv`: the same columns without the targets.
- `train/<id>/geometry.xyz`, `test/<id>/geometry.xyz`: the three lattice vectors and the Cartesian
  position (in angstrom) and element of every atom of the material's unit cell. The ids of
  `train/` belong to `train.csv` and those of `test/` to `test.csv`; the two numberings overlap.
- `sample_submission.csv`: `id,formation_energy_ev_natom,bandgap_energy_ev`, one row per test
  material.

## Evaluation
The root mean squared logarithmic error `sqrt(mean((log(1 + p) - log(1 + a))^2))` of each target,
averaged over the two targets (lower is better). Predictions must not be negative.
"""


def _geometries(raw: RawData) -> dict[int, Path]:
    """Every `geometry.xyz` of the raw `train` folder, by the (old) material id of its parent folder."""
    root = raw.path("train")
    found: dict[int, Path] = {}
    for path in sorted(root.rglob("*.xyz")):
        if path.is_file() and path.parent.name.isdigit():
            found.setdefault(int(path.parent.name), path)
    if not found:
        raise RawFileMissingError(f"the raw folder 'train' ({root}) holds no <id>/geometry.xyz files")
    return found


def _place_geometries(geometries: dict[int, Path], mapping: dict[int, int], target: Path) -> None:
    for old_id, new_id in mapping.items():
        source = geometries.get(old_id)
        if source is None:
            raise RawFileMissingError(f"the raw data lacks train/{old_id}/geometry.xyz")
        place(source, target / str(new_id) / "geometry.xyz")


class Nomad2018PredictTransparentConductors(Competition):
    info = supported_entry("nomad2018-predict-transparent-conductors")
    id_column = "id"
    target_columns = TARGETS
    answer_columns = TARGETS

    def prepare(self, raw: RawData | None, public: Path, private: Path) -> None:
        assert raw is not None
        source = pd.read_csv(raw_file(raw, "train.csv"))
        train, test = train_test_split(source, test_size=0.1, random_state=0)
        train_ids = {int(old): new for new, old in enumerate(train["id"], start=1)}
        test_ids = {int(old): new for new, old in enumerate(test["id"], start=1)}
        train = train.assign(id=range(1, len(train) + 1))
        test = test.assign(id=range(1, len(test) + 1))

        geometries = _geometries(raw)
        _place_geometries(geometries, train_ids, public / "train")
        _place_geometries(geometries, test_ids, public / "test")

        sample = pd.DataFrame({"id": test["id"].to_numpy(), **SAMPLE_VALUES})
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=list(TARGETS)).to_csv(public / "test.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(DESCRIPTION)
        test.to_csv(private / "test.csv", index=False)

    def check_values(self, submission: pd.DataFrame) -> None:
        check_non_negative(submission, TARGETS)

    def score(self, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        return mean_columnwise_rmsle(answers[list(TARGETS)].to_numpy(), submission[list(TARGETS)].to_numpy())


register(Nomad2018PredictTransparentConductors())
