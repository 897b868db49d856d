"""The six technique tasks: what they plant, how analyses are graded, and the baseline agent's analyses.

For every task, on a multiclass, a binary and a regression source (and on Lite tabular and text
sources): the ground truth is recomputed from the derived files (and, through the private
provenance, from the source rows) and must match; a perfect analysis scores 1, an empty one 0, a
partly wrong one strictly between. The baseline agent's `techniques.run` runs on each derived
dataset in a separate process and must hand in schema-valid analyses that score well above empty.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from mleredux.errors import (
    ChecksumMismatchError,
    CompetitionNotSupportedError,
    InvalidAnalysisError,
    InvalidArgumentError,
    NotPreparedError,
    UnknownCompetitionError,
    UnknownTechniqueTaskError,
)
from mleredux.preparation.prepare import prepare_competition, prepared_dir
from mleredux.proto_json import struct_to_python
from mleredux.store import S3Store
from mleredux.v1 import common_pb2, grader_pb2, grader_pb2_grpc
from technique_tasks.base import TASK_NAMES, get_task
from technique_tasks.cv import variant_for
from technique_tasks.grading import grade_technique_task, validate_technique_analysis
from technique_tasks.preparation import PreparedTechniqueTask, prepare_technique_task
from technique_tasks.scaling import order_of_magnitude
from technique_tasks.sources import SourceTable, load_source
from tests.lite import all_specs

REPO = Path(__file__).resolve().parents[1]
AGENT_DIR = REPO / "agent_images" / "baseline" / "agent"

# (task, competition, seed): every task on a multiclass and a binary source, every task but imbalance
# on a regression source; odd seeds plant the temporal variant of `cv`, even seeds the grouped one.
DEMO_CASES = [
    *[(task, "demo-digits", 0) for task in TASK_NAMES],
    *[(task, "demo-breast-cancer", 1) for task in TASK_NAMES],
    *[(task, "demo-diabetes", 2) for task in TASK_NAMES if task != "imbalance"],
]
LITE_SOURCES = ("tabular-playground-series-dec-2021", "jigsaw-toxic-comment-classification-challenge")
LITE_CASES = [(task, competition, 3) for competition in LITE_SOURCES for task in TASK_NAMES]


def _case_id(case: tuple[str, str, int]) -> str:
    return f"{case[0]}-{case[1]}-seed{case[2]}"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("technique-data")
    specs = {spec.competition_id: spec for spec in all_specs()}
    for competition in LITE_SOURCES:
        raw = tmp_path_factory.mktemp("raw")
        specs[competition].write_raw(raw, np.random.default_rng(42))
        prepare_competition(competition, root, raw=raw)
    return root


@pytest.fixture(scope="module")
def derived(data_dir: Path) -> dict[tuple[str, str, int], PreparedTechniqueTask]:
    return {case: prepare_technique_task(case[0], case[1], data_dir, seed=case[2]) for case in DEMO_CASES + LITE_CASES}


def _truth(prepared: PreparedTechniqueTask) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((prepared.private_dir / "ground_truth.json").read_text())
    return truth


def _frames(prepared: PreparedTechniqueTask) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(prepared.public_dir / "train.csv"), pd.read_csv(prepared.public_dir / "test.csv")


def _answers(prepared: PreparedTechniqueTask) -> pd.DataFrame:
    return pd.read_csv(prepared.private_dir / "answers.csv")


def _data_dir(prepared: PreparedTechniqueTask) -> Path:
    return prepared.public_dir.parents[4]  # <data-dir>/technique/<task>/<competition>/prepared/public


def _source(prepared: PreparedTechniqueTask) -> SourceTable:
    """The source table the task was planted into (deterministic for a competition and a seed)."""
    public = prepared_dir(prepared.competition_id, _data_dir(prepared)) / "public"
    return load_source(prepared.competition_id, public, seed=_truth(prepared)["seed"])


def _source_values(prepared: PreparedTechniqueTask, frame: pd.DataFrame, feature: str) -> np.ndarray:
    """The source value of `feature` behind each row of `frame`, through the private provenance."""
    provenance = pd.read_csv(prepared.private_dir / "provenance.csv").set_index("id")["source_row"]
    rows = frame["id"].map(provenance).to_numpy()
    values: np.ndarray = _source(prepared).features[feature].to_numpy()[rows]
    return values


def _separation(values: np.ndarray, labels: np.ndarray) -> float:
    """max(AUC, 1 - AUC) of a column for a boolean split: 0.5 means no link."""
    keep = np.isfinite(values)
    auc = roc_auc_score(labels[keep], values[keep])
    return float(max(auc, 1 - auc))


# --- ground truth, recomputed ---------------------------------------------------------------------


def check_imbalance(prepared: PreparedTechniqueTask, truth: dict[str, Any]) -> None:
    train, _ = _frames(prepared)
    planted = truth["planted"]
    counts = {str(k): int(v) for k, v in train["target"].value_counts().items()}
    assert counts == planted["class_counts"]
    assert planted["minority_class"] == "1" and counts["1"] < counts["0"]
    assert planted["minority_share"] == pytest.approx(counts["1"] / len(train))
    assert planted["minority_share"] == pytest.approx(planted["planted_share"], abs=0.01)
    assert _answers(prepared)["target"].mean() == pytest.approx(planted["planted_share"], abs=0.015)
    # Positives are exactly the rows of the chosen source class.
    source = _source(prepared)
    provenance = pd.read_csv(prepared.private_dir / "provenance.csv").set_index("id")["source_row"]
    labels = source.target[train["id"].map(provenance).to_numpy()]
    names = np.array(source.class_names or [str(i) for i in range(int(labels.max()) + 1)])
    assert ((names[labels] == planted["source_positive_class"]) == (train["target"] == 1)).all()


def check_missing(prepared: PreparedTechniqueTask, truth: dict[str, Any]) -> None:
    train, test = _frames(prepared)
    columns: dict[str, dict[str, Any]] = truth["planted"]["columns"]
    with_gaps = {c for c in train.columns if train[c].isna().any()}
    assert with_gaps == set(columns) and {c for c in test.columns if test[c].isna().any()} <= set(columns)
    assert {m["mechanism"] for m in columns.values()} >= {"MCAR", "MAR", "MNAR"}
    complete = truth["planted"]["complete_columns"]
    for column, fact in columns.items():
        gaps = train[column].isna().to_numpy()
        assert fact["missing_rate"] == pytest.approx(gaps.mean())
        assert fact["missing_rate"] == pytest.approx(fact["planted_rate"], abs=0.04)
        hidden = _source_values(prepared, train, column)  # the values behind the gaps
        own = _separation(hidden, gaps)
        drivers = max(_separation(train[c].to_numpy(dtype=float), gaps) for c in complete)
        if fact["mechanism"] == "MCAR":
            assert own < 0.62 and drivers < 0.62, (column, own, drivers)
        elif fact["mechanism"] == "MAR":
            driver = fact["depends_on"][0]
            assert driver in complete
            assert _separation(train[driver].to_numpy(dtype=float), gaps) > 0.75, column
        else:
            assert own > 0.75, (column, own)


def check_encoding(prepared: PreparedTechniqueTask, truth: dict[str, Any]) -> None:
    train, test = _frames(prepared)
    columns: dict[str, dict[str, Any]] = truth["planted"]["columns"]
    assert set(columns) == set(train.columns) - {"id", "target"}
    kinds = {fact["kind"]: column for column, fact in columns.items() if fact["type"] != "numeric"}
    assert set(kinds) == {"nominal_low", "nominal_high", "ordinal"}
    for column, fact in columns.items():
        if fact["type"] == "numeric":
            source = _source_values(prepared, train, fact["from_feature"])
            if fact["integer_count"]:
                # A count: integers over dozens of contiguous levels, rising with the source feature.
                assert pd.api.types.is_integer_dtype(train[column]) and train[column].nunique() >= 30
                assert (np.diff(source[np.lexsort((source, train[column].to_numpy()))]) >= 0).all()
            else:
                assert np.allclose(train[column], source)
            continue
        assert fact["cardinality"] == train[column].nunique()
        assert fact["unseen_in_train"] == int((~test[column].isin(set(train[column]))).sum())
        feature = _source_values(prepared, train, fact["from_feature"])
        by_level = pd.Series(feature).groupby(train[column].to_numpy())
        # Every level stands for a band of the feature it came from.
        assert by_level.std().fillna(0).mean() < 0.5 * feature.std() or fact["kind"] == "nominal_low"
    high = kinds["nominal_high"]
    assert pd.api.types.is_integer_dtype(train[high]) and train[high].nunique() >= 40
    assert columns[high]["unseen_in_train"] > 0
    assert 3 <= train[kinds["nominal_low"]].nunique() <= 6
    ordinal = kinds["ordinal"]
    order = columns[ordinal]["order"]
    assert set(train[ordinal]) == set(order)
    feature = _source_values(prepared, train, columns[ordinal]["from_feature"])
    medians = [np.median(feature[train[ordinal].to_numpy() == level]) for level in order]
    assert medians == sorted(medians)


def check_cv(prepared: PreparedTechniqueTask, truth: dict[str, Any]) -> None:
    train, test = _frames(prepared)
    planted = truth["planted"]
    assert planted["structure"] == variant_for(truth["seed"])
    decoy = planted["decoy_columns"][0]
    if planted["structure"] == "grouped":
        group = planted["group_column"]
        assert not set(train[group]) & set(test[group])
        assert planted["entities_in_train"] == train[group].nunique() and planted["entities_in_both"] == 0
        assert train[group].value_counts().mean() > 2
        provenance = pd.read_csv(prepared.private_dir / "provenance.csv").set_index("id")["source_row"]
        # An entity's rows are measurements of one source row, with one label (classification).
        assert (train.assign(row=train["id"].map(provenance)).groupby(group)["row"].nunique() == 1).all()
        if truth["target_kind"] != "regression":
            assert (train.groupby(group)["target"].nunique() == 1).all()
        # The decoy date does not separate test from train.
        assert test[decoy].min() < train[decoy].max()
    else:
        time_column = planted["time_column"]
        assert test[time_column].min() > train[time_column].max()
        assert [train[time_column].min(), train[time_column].max()] == planted["train_dates"]
        assert test[decoy].isin(set(train[decoy])).mean() > 0.95
        both = pd.concat([train, test])
        days = pd.to_datetime(both[time_column]).astype("int64")
        rho = stats.spearmanr(days, both[planted["drifting_feature"]]).statistic
        assert rho > 0.3, rho


def check_scaling(prepared: PreparedTechniqueTask, truth: dict[str, Any]) -> None:
    train, _ = _frames(prepared)
    facts: dict[str, dict[str, Any]] = truth["planted"]["features"]
    magnitudes = []
    for column, fact in facts.items():
        values = train[column].to_numpy(dtype=float)
        assert fact["order_of_magnitude"] == order_of_magnitude(values)
        assert abs(fact["order_of_magnitude"] - fact["planted_exponent"]) <= 1
        skew = stats.skew(values)
        assert (skew > 2.0) if fact["skewed"] else (abs(skew) < 0.5), (column, skew)
        # The planted feature is an increasing transform of the source feature: sorted by it, the
        # source values never go down.
        source = _source_values(prepared, train, column)
        assert (np.diff(source[np.lexsort((source, values))]) >= 0).all(), column
        magnitudes.append(fact["order_of_magnitude"])
    assert max(magnitudes) - min(magnitudes) >= 4
    assert set(truth["planted"]["skewed"]) == {c for c, f in facts.items() if f["skewed"]}


def check_leakage(prepared: PreparedTechniqueTask, truth: dict[str, Any]) -> None:
    train, test = _frames(prepared)
    answers = test[["id"]].merge(_answers(prepared), on="id")
    leaks = {leak["type"]: leak for leak in truth["planted"]["leaks"]}
    derived, future = leaks["target_derived"]["column"], leaks["future_feature"]["column"]
    signal = train["target"].to_numpy(dtype=float)
    # Target-derived: the planted formula of the row's target in train (bar the few scrambled), nothing in test.
    formula = leaks["target_derived"]
    source = _source(prepared)
    standardized = (source.target - source.target.mean()) / source.target.std()
    provenance = pd.read_csv(prepared.private_dir / "provenance.csv").set_index("id")["source_row"]
    expected = formula["offset"] + formula["slope"] * standardized[train["id"].map(provenance).to_numpy()]
    off = np.abs(train[derived].to_numpy() - expected) > 5 * formula["noise_sd"]
    assert off.sum() <= truth["planted"]["scrambled_train_rows"]
    assert abs(stats.spearmanr(test[derived], answers["target"]).statistic) < 0.25
    # The id: sorting train by id sorts the target; test ids say nothing.
    assert train.sort_values("id")["target"].is_monotonic_increasing
    assert abs(stats.spearmanr(test["id"], answers["target"]).statistic) < 0.25
    # From the future: tied to the target in train, never recorded in test.
    assert test[future].isna().all()
    filled = train[future].notna()
    rho = stats.spearmanr(train.loc[filled, future], signal[filled.to_numpy()]).statistic
    assert 0.5 < rho < 0.97, rho
    # Duplicates: exactly the listed records match across tables on every non-leaking column.
    equal = leaks["train_test_duplicates"]["equal_columns"]
    assert set(equal) == set(test.columns) - {"id", derived, future}
    matches = train[["id", *equal]].merge(test[["id", *equal]], on=equal, suffixes=("_train", "_test"))
    assert sorted(matches["id_test"]) == leaks["train_test_duplicates"]["rows"]
    assert sorted(matches["id_train"]) == leaks["train_test_duplicates"]["train_rows"]


CHECKS: dict[str, Callable[[PreparedTechniqueTask, dict[str, Any]], None]] = {
    "imbalance": check_imbalance,
    "missing": check_missing,
    "encoding": check_encoding,
    "cv": check_cv,
    "scaling": check_scaling,
    "leakage": check_leakage,
}


@pytest.mark.parametrize("case", DEMO_CASES + LITE_CASES, ids=_case_id)
def test_ground_truth_matches_what_was_planted(derived, case) -> None:  # type: ignore[no-untyped-def]
    prepared = derived[case]
    truth = _truth(prepared)
    assert truth["task"] == case[0] and truth["competition_id"] == case[1] and truth["seed"] == case[2]
    CHECKS[case[0]](prepared, truth)


# --- perfect, empty and partly wrong analyses -----------------------------------------------------


def perfect_analysis(task: str, truth: dict[str, Any], train: pd.DataFrame) -> dict[str, Any]:
    """An analysis written from the ground truth, field by field, as a flawless analyst would."""
    planted = truth["planted"]
    if task == "imbalance":
        return {
            "target_column": "target",
            "class_counts": planted["class_counts"],
            "minority_class": planted["minority_class"],
            "minority_share": planted["minority_share"],
            "is_imbalanced": True,
            "strategy": "class_weight",
            "metric": "average_precision",
            "validation": "stratified_kfold",
        }
    if task == "missing":
        return {
            "columns": [
                {
                    "column": column,
                    "missing_rate": fact["missing_rate"],
                    "mechanism": fact["mechanism"],
                    "depends_on": fact.get("depends_on", []),
                    "imputation": fact["correct_imputations"][-1],
                    "add_indicator": fact["indicator_required"],
                }
                for column, fact in planted["columns"].items()
            ]
        }
    if task == "encoding":
        features = []
        for column, fact in planted["columns"].items():
            entry = {
                "column": column,
                "type": fact["type"],
                "cardinality": int(train[column].nunique()),
                "encoding": fact["correct_encodings"][0],
            }
            if fact["type"] == "ordinal":
                entry["order"] = fact["order"]
            features.append(entry)
        return {"features": features}
    if task == "cv":
        return {
            "structure": planted["structure"],
            "cv_method": planted["correct_methods"][0],
            "n_splits": 5,
            "group_column": planted["group_column"],
            "time_column": planted["time_column"],
            "rationale": f"{planted['key_column']} separates test rows from train rows",
        }
    if task == "scaling":
        return {
            "needs_scaling": True,
            "features": [
                {
                    "column": column,
                    "order_of_magnitude": fact["order_of_magnitude"],
                    "skewed": fact["skewed"],
                    "scaler": fact["correct_scalers"][0],
                }
                for column, fact in planted["features"].items()
            ],
        }
    return {
        "leaks": [
            {
                "type": leak["type"],
                "column": leak["column"],
                **({"rows": leak["rows"]} if "rows" in leak else {}),
                "mitigation": leak["correct_mitigations"][0],
            }
            for leak in planted["leaks"]
        ]
    }


def spoil(task: str, analysis: dict[str, Any], truth: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The perfect analysis with one plausible mistake; returns it and the item prefix that must drop."""
    spoiled = json.loads(json.dumps(analysis))
    if task == "imbalance":
        spoiled["metric"] = "accuracy"
        return spoiled, "metric"
    if task == "missing":
        for entry in spoiled["columns"]:
            if entry["mechanism"] == "MNAR":
                entry.update(mechanism="MCAR", add_indicator=False)
        return spoiled, "mechanism["
    if task == "encoding":
        for entry in spoiled["features"]:
            if entry["type"] == "ordinal":
                entry.update(type="nominal", encoding="one_hot")
                entry.pop("order")
        return spoiled, "type["
    if task == "cv":
        spoiled["cv_method"] = "kfold"
        return spoiled, "cv_method"
    if task == "scaling":
        for entry in spoiled["features"]:
            entry["skewed"] = False
        return spoiled, "skewed_features"
    spoiled["leaks"] = [leak for leak in spoiled["leaks"] if leak["type"] != "future_feature"]
    return spoiled, "leaks_found"


def _grade(prepared: PreparedTechniqueTask, tmp_path: Path, analysis: Any, submission: Path | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{prepared.task}_analysis.json"
    path.write_text(analysis if isinstance(analysis, str) else json.dumps(analysis))
    return grade_technique_task(prepared.task, prepared.competition_id, _data_dir(prepared), path, submission)


@pytest.mark.parametrize("case", DEMO_CASES + LITE_CASES, ids=_case_id)
def test_perfect_empty_and_partly_wrong_analyses(derived, case, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prepared = derived[case]
    truth = _truth(prepared)
    train, _ = _frames(prepared)
    perfect = perfect_analysis(case[0], truth, train)

    report = _grade(prepared, tmp_path, perfect)
    assert report.valid_submission and report.invalid_reason is None
    assert report.score == 1.0, [i for i in report.details["items"] if i["score"] < 1]
    assert report.technique_task == case[0] and report.competition_id == case[1]
    assert report.gold_threshold is None and not report.any_medal

    empty = _grade(prepared, tmp_path, {})
    assert empty.valid_submission and empty.score == 0.0
    assert all(item["score"] == 0.0 for item in empty.details["items"])

    spoiled, dropped = spoil(case[0], perfect, truth)
    partial = _grade(prepared, tmp_path, spoiled)
    assert 0.0 < partial.score < 1.0, partial.score
    wrong = {item["name"] for item in partial.details["items"] if item["score"] < 1.0}
    assert any(name.startswith(dropped) for name in wrong), wrong


# --- reports, submissions and errors ----------------------------------------------------------------


def test_report_details_name_each_item_and_the_submission(derived, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prepared = derived[("leakage", "demo-digits", 0)]
    truth = _truth(prepared)
    analysis = perfect_analysis("leakage", truth, _frames(prepared)[0])
    duplicates = next(leak for leak in analysis["leaks"] if leak["type"] == "train_test_duplicates")
    duplicates["rows"] = [*duplicates["rows"][: len(duplicates["rows"]) // 2], 123]
    sample = prepared.public_dir / "sample_submission.csv"
    report = _grade(prepared, tmp_path, analysis, sample)
    rows = next(i for i in report.details["items"] if i["name"] == "duplicated_rows")
    assert rows["extra"]["false_positives"] == ["123"] and len(rows["extra"]["missed"]) > 0
    assert 0 < rows["extra"]["precision"] < 1 and rows["extra"]["recall"] == pytest.approx(0.5, abs=0.1)
    submission = report.details["submission"]
    assert submission["asked"] and submission["valid"] and submission["metric"] == "accuracy"
    assert submission["score"] == pytest.approx((_answers(prepared)["target"] == 0).mean())
    assert len(submission["sha256"]) == 64 and len(report.submission_sha256 or "") == 64

    broken = tmp_path / "broken.csv"
    pd.read_csv(sample).assign(target=0.5).to_csv(broken, index=False)
    report = _grade(prepared, tmp_path, analysis, broken)
    assert report.valid_submission  # the analysis is fine; the CSV is not
    assert not report.details["submission"]["valid"]
    assert "not class codes" in report.details["submission"]["invalid_reason"]


def test_a_model_that_leans_on_the_leaks_scores_worse(derived, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The outcome half of leakage: the same model with and without the leaking columns."""
    prepared = derived[("leakage", "demo-breast-cancer", 1)]
    train, test = _frames(prepared)
    leaks = {leak["type"]: leak.get("column") for leak in _truth(prepared)["planted"]["leaks"]}
    everything = [c for c in test.columns]  # the id included
    honest = [c for c in test.columns if c not in ("id", leaks["target_derived"], leaks["future_feature"])]
    scores = {}
    for name, columns in (("leaning", everything), ("honest", honest)):
        model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(train[columns], train["target"])
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"id": test["id"], "target": model.predict_proba(test[columns])[:, 1]}).to_csv(path, index=False)
        scores[name] = _grade(prepared, tmp_path, {}, path).details["submission"]["score"]
    assert scores["honest"] > scores["leaning"] + 0.1, scores


def test_invalid_and_missing_analyses(derived, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prepared = derived[("leakage", "demo-digits", 0)]
    report = _grade(prepared, tmp_path, {"leaks": [{"type": "target_derived"}, {"type": "peeking"}]})
    assert not report.valid_submission and report.submission_exists and report.score is None
    assert "at $.leaks[1].type: 'peeking' is not one of" in (report.invalid_reason or "")
    report = _grade(prepared, tmp_path, '{"leaks": [')
    assert not report.valid_submission and "is not valid JSON" in (report.invalid_reason or "")
    report = _grade(prepared, tmp_path, {"leaks": [], "confidence": 0.9})
    assert "Additional properties are not allowed ('confidence' was unexpected)" in (report.invalid_reason or "")

    absent = grade_technique_task("leakage", "demo-digits", _data_dir(prepared), tmp_path / "nope.json")
    assert not absent.submission_exists and absent.score is None and absent.invalid_reason is None
    assert absent.details is not None and absent.details["submission"]["exists"] is False

    with pytest.raises(InvalidAnalysisError, match=r"at \$\.columns\[0\]: 'column' is a required property"):
        get_task("missing").validate({"columns": [{"missing_rate": 0.1}]})
    assert validate_technique_analysis("scaling", b'{"needs_scaling": "yes"}').message.endswith(
        "at $.needs_scaling: 'yes' is not of type 'boolean'"
    )
    assert validate_technique_analysis("scaling", b'{"needs_scaling": true}').valid


def test_clear_errors_for_unknown_tasks_and_unfit_sources(data_dir: Path) -> None:
    with pytest.raises(UnknownTechniqueTaskError, match="imbalance, missing, encoding, cv, scaling, leakage"):
        prepare_technique_task("outliers", "demo-digits", data_dir)
    with pytest.raises(CompetitionNotSupportedError, match="binary, multiclass target; demo-diabetes has a regression"):
        prepare_technique_task("imbalance", "demo-diabetes", data_dir)
    with pytest.raises(CompetitionNotSupportedError, match=r"labelled tabular or text rows.*demo-digits"):
        prepare_technique_task("missing", "aerial-cactus-identification", data_dir)
    with pytest.raises(UnknownCompetitionError, match="Did you mean 'demo-digits'"):
        prepare_technique_task("missing", "demo-digit", data_dir)
    with pytest.raises(NotPreparedError, match="not prepared"):
        grade_technique_task("scaling", "demo-digits", data_dir / "elsewhere", None)


def test_public_files_and_no_answers_in_them(derived) -> None:  # type: ignore[no-untyped-def]
    for (task, _, _), prepared in derived.items():
        public = {p.name for p in prepared.public_dir.iterdir()}
        expected = {"train.csv", "test.csv", "description.md", f"{task}_analysis.schema.json"}
        asks = get_task(task).asks_submission
        assert public == expected | ({"sample_submission.csv"} if asks else set())
        assert {p.name for p in prepared.private_dir.iterdir()} >= {"ground_truth.json", "provenance.csv"}
        _, test = _frames(prepared)
        assert "target" not in test.columns
        description = (prepared.public_dir / "description.md").read_text()
        assert f"{task}_analysis.json" in description and "$SUBMISSION_DIR" in description
        schema = json.loads((prepared.public_dir / f"{task}_analysis.schema.json").read_text())
        assert schema == get_task(task).schema()
        for name in ("source_row", "planted_share", "from_feature", "drifting_feature"):
            assert name not in description


def test_preparation_reuses_verifies_and_keeps_its_seed(tmp_path: Path) -> None:
    first = prepare_technique_task("scaling", "demo-diabetes", tmp_path, seed=5)
    assert not first.reused and first.seed == 5
    assert first.public_dir == tmp_path / "technique" / "scaling" / "demo-diabetes" / "prepared" / "public"
    assert first.as_dataset().competition_id == "technique/scaling/demo-diabetes"
    again = prepare_technique_task("scaling", "demo-diabetes", tmp_path, seed=5)
    assert again.reused and again.content_hash == first.content_hash
    with pytest.raises(InvalidArgumentError, match="planted with seed 5, not 6"):
        prepare_technique_task("scaling", "demo-diabetes", tmp_path, seed=6)
    other = prepare_technique_task("scaling", "demo-diabetes", tmp_path, seed=6, overwrite=True)
    assert other.content_hash != first.content_hash
    # The same seed on another machine plants the same files.
    twin = prepare_technique_task("scaling", "demo-diabetes", tmp_path / "twin", seed=6)
    assert twin.content_hash == other.content_hash
    (other.public_dir / "train.csv").write_text("id,target\n1,0\n")
    with pytest.raises(ChecksumMismatchError, match=r"public/train\.csv"):
        prepare_technique_task("scaling", "demo-diabetes", tmp_path, seed=6)


# --- the baseline agent -----------------------------------------------------------------------------

BASELINE_FLOOR = 0.6

_DRIVER = """
import sys
from pathlib import Path
import techniques
for spec in sys.argv[1:]:
    task, data, out = spec.split("|")
    techniques.run(task, Path(data), Path(out) / "submission", Path(out) / "logs")
"""


@pytest.fixture(scope="module")
def baseline_runs(derived, tmp_path_factory) -> dict[tuple[str, str, int], Path]:  # type: ignore[no-untyped-def]
    """Runs `techniques.run` on every demo derivation: one process (the venv's python, outside the repo)."""
    root = tmp_path_factory.mktemp("baseline")
    outputs = {case: root / _case_id(case) for case in DEMO_CASES}
    specs = [f"{case[0]}|{derived[case].public_dir}|{out}" for case, out in outputs.items()]
    env = {**os.environ, "PYTHONPATH": str(AGENT_DIR), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER, *specs], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return outputs


@pytest.mark.parametrize("case", DEMO_CASES, ids=_case_id)
def test_baseline_agent_analyses_score_well(derived, baseline_runs, case) -> None:  # type: ignore[no-untyped-def]
    task = case[0]
    prepared, out = derived[case], baseline_runs[case]
    analysis_path = out / "submission" / f"{task}_analysis.json"
    submission = out / "submission" / "submission.csv"
    get_task(task).load_analysis(analysis_path)  # schema-valid, or this raises with the JSON path
    report = grade_technique_task(task, case[1], _data_dir(prepared), analysis_path, submission)
    print(
        f"baseline {task} on {case[1]} (seed {case[2]}): analysis score {report.score:.3f}, "
        f"submission {report.details['submission'].get('score')}"
    )
    assert report.valid_submission and report.score is not None and report.score >= BASELINE_FLOOR, report.details
    assert submission.is_file() == get_task(task).asks_submission
    if get_task(task).asks_submission:
        assert report.details["submission"]["valid"], report.details["submission"]
    events = [json.loads(line) for line in (out / "logs" / "rollout.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "plan" and "analysis" in kinds and kinds[-1] == "result"
    assert [e["step"] for e in events] == list(range(1, len(events) + 1))
    recorded = next(e for e in events if e["kind"] == "analysis")["payload"]["analysis"]
    assert recorded == json.loads(analysis_path.read_text())


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    return imported


def test_techniques_imports_nothing_of_the_project() -> None:
    """The analyses run in the agent's container: `techniques` and every agent module it reaches import
    the standard library, the scientific libraries of the image and the agent's own modules; nothing
    of the project. The agent's reading, rollout, metric and submission modules are imported, not copied."""
    agent_modules = {path.stem for path in AGENT_DIR.glob("*.py")}
    allowed = set(sys.stdlib_module_names) | {"numpy", "pandas", "scipy", "sklearn"} | agent_modules
    reached: set[str] = set()
    pending = ["techniques"]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        imported = _top_level_imports(AGENT_DIR / f"{name}.py")
        assert not imported & {"mleredux", "services", "technique_tasks", "tests"}, (name, imported)
        assert imported <= allowed, (name, imported - allowed)
        pending += sorted(imported & agent_modules)
    assert {"loading", "rollout", "metrics", "submission"} <= reached, reached


# --- the grader service -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grader(s3_endpoint: str, derived, data_dir: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "MLEREDUX_S3_ACCESS_KEY": "k", "MLEREDUX_S3_SECRET_KEY": "s", "PYTHONUNBUFFERED": "1"}
    store = f"s3://technique-runs?endpoint=http://{s3_endpoint}"
    S3Store("technique-runs", s3_endpoint, access_key="k", secret_key="s").check()
    command = [sys.executable, "-m", "mleredux", "serve", "grader", "--listen", "127.0.0.1:0"]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--store", store],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        assert line.startswith("listening on "), line + process.stdout.read()
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_grade_technique_task_through_the_grader_service(grader, derived, s3_endpoint) -> None:  # type: ignore[no-untyped-def]
    prepared = derived[("cv", "demo-digits", 0)]
    truth = _truth(prepared)
    analysis = perfect_analysis("cv", truth, _frames(prepared)[0]) | {"cv_score": 0.7}
    store = S3Store("technique-runs", s3_endpoint, access_key="k", secret_key="s")
    store.put_bytes("runs/r1/submission/cv_analysis.json", json.dumps(analysis).encode())
    sample = (prepared.public_dir / "sample_submission.csv").read_bytes()
    async with grpc.aio.insecure_channel(grader) as channel:
        stub = grader_pb2_grpc.GraderServiceStub(channel)
        answer = await stub.GradeTechniqueTask(
            grader_pb2.GradeTechniqueTaskRequest(
                task="cv",
                competition_id="demo-digits",
                analysis=grader_pb2.SubmissionSource(store_key="runs/r1/submission/cv_analysis.json"),
                submission=grader_pb2.SubmissionSource(content=sample),
                compute_profile=common_pb2.ComputeProfile(cpus=1.0),
            )
        )
        report = answer.report
        assert report.technique_task == "cv" and report.compute_profile.cpus == 1.0
        assert report.score == 1.0 and report.valid_submission and report.submission_exists
        assert report.submission_path == "runs/r1/submission/cv_analysis.json"
        details = struct_to_python(report.details)
        assert details["task"] == "cv" and details["submission"]["valid"]
        assert details["outcome"]["cv_score"] == 0.7
        assert details["outcome"]["cv_score_gap"] == pytest.approx(abs(0.7 - details["submission"]["score"]))

        empty = (
            await stub.GradeTechniqueTask(
                grader_pb2.GradeTechniqueTaskRequest(
                    task="cv", competition_id="demo-digits", analysis=grader_pb2.SubmissionSource(content=b"{}")
                )
            )
        ).report
        assert empty.HasField("score") and empty.score == 0.0 and empty.submission_path == "cv_analysis.json"

        invalid = (
            await stub.GradeTechniqueTask(
                grader_pb2.GradeTechniqueTaskRequest(
                    task="cv",
                    competition_id="demo-digits",
                    analysis=grader_pb2.SubmissionSource(content=b'{"n_splits": 1}'),
                )
            )
        ).report
        assert (
            not invalid.valid_submission and "at $.n_splits: 1 is less than the minimum of 2" in invalid.invalid_reason
        )

        for fields, code, text in (
            ({"task": "outliers", "competition_id": "demo-digits"}, grpc.StatusCode.NOT_FOUND, "imbalance, missing"),
            ({"competition_id": "demo-digits"}, grpc.StatusCode.INVALID_ARGUMENT, "task is required"),
            (
                {"task": "cv", "competition_id": "random-acts-of-pizza"},
                grpc.StatusCode.FAILED_PRECONDITION,
                "not prepared",
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GradeTechniqueTask(grader_pb2.GradeTechniqueTaskRequest(**fields))
            assert caught.value.code() == code and text in (caught.value.details() or ""), caught.value.details()


def test_docs_table_lists_every_task() -> None:
    text = (REPO / "docs" / "technique_tasks.md").read_text()
    for task in TASK_NAMES:
        assert f"| `{task}` |" in text, task
