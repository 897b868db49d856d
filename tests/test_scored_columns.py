"""The prepared sample submission decides the scored columns: RANZCR on both layouts.

MLE-bench's RANZCR data scores nine classes (its `classes.py` leaves out `CVC - Normal` and `Swan Ganz
Catheter Present`, and its sample has only those nine); data prepared here keeps Kaggle's eleven. The
same answers graded on each layout score what that layout's grader scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mleredux.competitions.lite.ranzcr_clip_catheter_line_classification import CLASSES, MLEBENCH_CLASSES
from mleredux.errors import GraderError
from mleredux.grading.submission import grade_submission, validate_submission
from mleredux.preparation.prepare import prepare_competition
from tests.lite.gen_ranzcr_clip_catheter_line_classification import SPEC

ID = SPEC.competition_id
ID_COLUMN = "StudyInstanceUID"


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two data dirs from the same raw files: as prepared here, and with MLE-bench's nine-class sample."""
    raw = tmp_path_factory.mktemp("raw")
    SPEC.write_raw(raw, np.random.default_rng(7))
    ours = tmp_path_factory.mktemp("ours")
    prepare_competition(ID, ours, raw=raw)
    mlebench = tmp_path_factory.mktemp("mlebench")
    prepare_competition(ID, mlebench, raw=raw)
    public = mlebench / ID / "prepared" / "public"
    # What MLE-bench's prepare.py writes: the test rows' ids and its nine classes, all 0.
    answers = pd.read_csv(mlebench / ID / "prepared" / "private" / "test.csv")
    answers[[ID_COLUMN, *MLEBENCH_CLASSES]].assign(**dict.fromkeys(MLEBENCH_CLASSES, 0)).to_csv(
        public / "sample_submission.csv", index=False
    )
    return {"ours": ours, "mlebench": mlebench}


def _answers(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / ID / "prepared" / "private" / "test.csv")


def _predictions(answers: pd.DataFrame) -> pd.DataFrame:
    """Noisy but informative probabilities for all eleven classes; the last two are pure noise."""
    rng = np.random.default_rng(3)
    signal = np.array([0.3] * 9 + [0.0] * 2)
    noisy = answers[list(CLASSES)].to_numpy(dtype=float) * signal + rng.random((len(answers), len(CLASSES))) * 0.7
    return pd.DataFrame({ID_COLUMN: answers[ID_COLUMN], **{c: noisy[:, j] for j, c in enumerate(CLASSES)}})


def _mean_auc(answers: pd.DataFrame, predictions: pd.DataFrame, classes: tuple[str, ...]) -> float:
    merged = answers.merge(predictions, on=ID_COLUMN, suffixes=("", "_p"))
    return float(np.mean([roc_auc_score(merged[c], merged[f"{c}_p"]) for c in classes]))


def _grade(frame: pd.DataFrame, data_dir: Path, name: str):  # type: ignore[no-untyped-def]
    path = data_dir / name
    frame.to_csv(path, index=False)
    return grade_submission(path, ID, data_dir), validate_submission(path.read_bytes(), ID, data_dir)


def test_an_mlebench_data_dir_scores_its_nine_classes(layouts: dict[str, Path]) -> None:
    data_dir = layouts["mlebench"]
    answers = _answers(data_dir)
    predictions = _predictions(answers)
    nine = predictions[[ID_COLUMN, *MLEBENCH_CLASSES]]
    report, validation = _grade(nine, data_dir, "nine.csv")
    assert report.valid_submission and validation.valid, (report.invalid_reason, validation.message)
    expected = _mean_auc(answers, predictions, MLEBENCH_CLASSES)
    assert expected != pytest.approx(_mean_auc(answers, predictions, CLASSES), abs=1e-6)
    assert report.score_unrounded == pytest.approx(expected, abs=1e-12)
    assert report.score == round(expected, 5)
    # Kaggle's two other columns, as an agent reading Kaggle's description writes them, are ignored
    # (MLE-bench ignores them too), whatever they hold.
    eleven = predictions.assign(**{"CVC - Normal": 7.0, "Swan Ganz Catheter Present": -1.0})
    report, validation = _grade(eleven, data_dir, "eleven.csv")
    assert report.valid_submission and validation.valid, (report.invalid_reason, validation.message)
    assert report.score_unrounded == pytest.approx(expected, abs=1e-12)
    # One of the nine missing is still a missing column.
    report, validation = _grade(nine.drop(columns=["CVC - Borderline"]), data_dir, "eight.csv")
    assert not report.valid_submission and "missing columns: ['CVC - Borderline']" in (report.invalid_reason or "")
    assert not validation.valid and "missing columns: ['CVC - Borderline']" in validation.message


def test_data_prepared_here_scores_kaggles_eleven(layouts: dict[str, Path]) -> None:
    data_dir = layouts["ours"]
    sample = pd.read_csv(data_dir / ID / "prepared" / "public" / "sample_submission.csv", nrows=1)
    assert list(sample.columns) == [ID_COLUMN, *CLASSES]
    answers = _answers(data_dir)
    predictions = _predictions(answers)
    report, validation = _grade(predictions, data_dir, "eleven.csv")
    assert report.valid_submission and validation.valid
    assert report.score_unrounded == pytest.approx(_mean_auc(answers, predictions, CLASSES), abs=1e-12)
    report, validation = _grade(predictions[[ID_COLUMN, *MLEBENCH_CLASSES]], data_dir, "nine.csv")
    reason = "missing columns: ['CVC - Normal', 'Swan Ganz Catheter Present']"
    assert not report.valid_submission and reason in (report.invalid_reason or "")
    assert not validation.valid and reason in validation.message


def test_a_sample_outside_the_competitions_columns_is_a_grader_error(layouts: dict[str, Path], tmp_path: Path) -> None:
    data_dir = layouts["mlebench"]
    sample_path = data_dir / ID / "prepared" / "public" / "sample_submission.csv"
    original = sample_path.read_bytes()
    predictions = _predictions(_answers(data_dir))
    try:
        for columns in (MLEBENCH_CLASSES[:5], (*MLEBENCH_CLASSES, "Pacemaker Present")):
            pd.read_csv(sample_path)[[ID_COLUMN]].assign(**dict.fromkeys(columns, 0)).to_csv(sample_path, index=False)
            path = tmp_path / "submission.csv"
            predictions.to_csv(path, index=False)
            with pytest.raises(GraderError, match="does not fit the competition"):
                grade_submission(path, ID, data_dir)
            with pytest.raises(GraderError, match="does not fit the competition"):
                validate_submission(path.read_bytes(), ID, data_dir)
    finally:
        sample_path.write_bytes(original)
