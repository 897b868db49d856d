"""The default demo is sealed: nothing an agent's image holds rebuilds its answers.

scikit-learn's bundled datasets ship in agent images (the baseline has scikit-learn), so these tests try
what a cheating agent would, with that data: labels by row number from the id, and exact matches of a
test image among the bundled digits. Neither may do better than chance on `demo-digits`; the same
lookup does win on the demos that say they are not sealed.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression

from mleredux.competitions import get_competition, list_competitions
from mleredux.competitions.demo_digits import SEED_ENV, SEED_FILE, generate, read_seed
from mleredux.errors import MleReduxError
from mleredux.grading.submission import grade_submission
from mleredux.preparation.prepare import PreparedDataset, prepare_competition

#: Ten balanced classes: chance is 0.1. With 360 test rows a guess scores above 0.2 with a probability
#: far below one in a million, so any score above this bound is information, not luck.
CHANCE_BOUND = 0.2


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PreparedDataset]:
    data_dir = tmp_path_factory.mktemp("data")
    return data_dir, prepare_competition("demo-digits", data_dir)


def _grade(frame: pd.DataFrame, competition_id: str, data_dir: Path, tmp_path: Path) -> float:
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    report = grade_submission(path, competition_id, data_dir)
    assert report.valid_submission, report.invalid_reason
    assert report.score is not None
    return report.score


def test_labels_by_row_number_from_the_bundled_digits_score_chance(prepared, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data_dir, dataset = prepared
    test = pd.read_csv(dataset.public_dir / "test.csv")
    bundled = load_digits().target
    guess = [int(bundled[int(i[4:]) % len(bundled)]) for i in test["id"]]
    assert _grade(pd.DataFrame({"id": test["id"], "label": guess}), "demo-digits", data_dir, tmp_path) < CHANCE_BOUND


def test_no_test_image_is_among_the_bundled_digits(prepared, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data_dir, dataset = prepared
    test = pd.read_csv(dataset.public_dir / "test.csv")
    pixels = test[[f"pixel_{i}" for i in range(64)]].to_numpy(np.int64)
    digits = load_digits()
    bundled = {
        row.astype(np.int64).tobytes(): int(label) for row, label in zip(digits.data, digits.target, strict=True)
    }
    matches = [bundled.get(row.tobytes()) for row in pixels]
    assert sum(m is not None for m in matches) == 0
    # Whatever a lookup falls back to, it cannot beat chance.
    guess = [m if m is not None else 0 for m in matches]
    assert _grade(pd.DataFrame({"id": test["id"], "label": guess}), "demo-digits", data_dir, tmp_path) < CHANCE_BOUND


def test_the_same_lookup_wins_on_a_demo_that_says_it_is_not_sealed(tmp_path: Path) -> None:
    """The attack is real: on demo-breast-cancer, built from bundled data, it scores a perfect AUC."""
    dataset = prepare_competition("demo-breast-cancer", tmp_path)
    test = pd.read_csv(dataset.public_dir / "test.csv")
    data = load_breast_cancer()
    malignant = (data.target == 0).astype(float)
    guess = [malignant[int(i[5:])] for i in test["id"]]
    assert _grade(pd.DataFrame({"id": test["id"], "malignant": guess}), "demo-breast-cancer", tmp_path, tmp_path) == 1.0


def test_the_registry_says_which_demos_are_sealed() -> None:
    infos = {info.id: info for info in list_competitions()}
    assert infos["demo-digits"].sealed
    for demo in ("demo-breast-cancer", "demo-diabetes"):
        assert not infos[demo].sealed
        assert "NOT SEALED" in infos[demo].summary
        description = importlib.import_module(type(get_competition(demo)).__module__).DESCRIPTION
        assert "## Not sealed" in description
    assert all(info.sealed for info in infos.values() if not info.id.startswith("demo-"))


def test_the_seed_stays_private_and_rebuilds_exactly_what_was_prepared(prepared) -> None:  # type: ignore[no-untyped-def]
    _, dataset = prepared
    seed = read_seed(dataset.private_dir)
    assert seed.bit_length() > 64  # a 128-bit draw; brute force over it is hopeless
    assert not (dataset.public_dir / SEED_FILE).exists()
    for path in dataset.public_dir.iterdir():
        assert str(seed) not in path.read_text()
    train, test, answers = generate(seed)
    pd.testing.assert_frame_equal(pd.read_csv(dataset.public_dir / "train.csv"), train)
    pd.testing.assert_frame_equal(pd.read_csv(dataset.public_dir / "test.csv"), test)
    pd.testing.assert_frame_equal(pd.read_csv(dataset.private_dir / "test.csv"), answers)


def test_each_preparation_draws_new_images(prepared, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, first = prepared
    second = prepare_competition("demo-digits", tmp_path)
    assert read_seed(first.private_dir) != read_seed(second.private_dir)
    a = pd.read_csv(first.public_dir / "test.csv").drop(columns=["id"]).to_numpy()
    b = pd.read_csv(second.public_dir / "test.csv").drop(columns=["id"]).to_numpy()
    assert not np.array_equal(a, b)


def test_it_stays_learnable(prepared, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A plain linear model on train.csv lands near the leaderboard's median; the sample gets 0.1."""
    data_dir, dataset = prepared
    train = pd.read_csv(dataset.public_dir / "train.csv")
    test = pd.read_csv(dataset.public_dir / "test.csv")
    columns = [f"pixel_{i}" for i in range(64)]
    model = LogisticRegression(max_iter=3000).fit(train[columns], train["label"])
    score = _grade(
        pd.DataFrame({"id": test["id"], "label": model.predict(test[columns])}), "demo-digits", data_dir, tmp_path
    )
    assert score > 0.9


def test_a_fixed_seed_reproduces_a_preparation_and_a_bad_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SEED_ENV, "123456789012345678901234567890")
    first = prepare_competition("demo-digits", tmp_path / "a")
    second = prepare_competition("demo-digits", tmp_path / "b")
    assert read_seed(first.private_dir) == read_seed(second.private_dir) == 123456789012345678901234567890
    for name in ("public/train.csv", "public/test.csv", "private/test.csv"):
        assert (first.public_dir.parent / name).read_bytes() == (second.public_dir.parent / name).read_bytes()
    for bad in ("not-a-number", "-5"):
        monkeypatch.setenv(SEED_ENV, bad)
        with pytest.raises(MleReduxError, match=f"{SEED_ENV} must be an integer of 0 or more"):
            prepare_competition("demo-digits", tmp_path / "c")
