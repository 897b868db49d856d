"""`mleredux prepare`, `grade` and `grade-sample` in-process, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.lite.gen_spooky_author_identification import write_raw as write_spooky_raw

#: Every test here runs the CLI as a process.
pytestmark = pytest.mark.subprocess


def mleredux(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mleredux", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("home")
    raw = tmp_path_factory.mktemp("raw") / "spooky-author-identification"
    raw.mkdir()
    write_spooky_raw(raw, np.random.default_rng(1))
    archive = shutil.make_archive(str(raw.parent / "spooky-author-identification"), "zip", raw)
    for args in (["-c", "demo-digits"], ["-c", "spooky-author-identification", "--raw", archive]):
        result = mleredux("prepare", *args, home=root)
        assert result.returncode == 0, result.stderr
    return root


def test_prepare_shows_progress_and_reuses(home: Path) -> None:
    again = mleredux("prepare", "-c", "demo-digits", home=home)
    assert again.returncode == 0, again.stderr
    assert "verified (already prepared)" in again.stdout
    assert "demo-digits [verify]" in again.stderr and "[done]" in again.stderr


def test_grade_sample_prints_the_report(home: Path) -> None:
    sample = home / "data" / "demo-digits" / "prepared" / "public" / "sample_submission.csv"
    result = mleredux("grade-sample", str(sample), "demo-digits", home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    answers = pd.read_csv(home / "data" / "demo-digits" / "prepared" / "private" / "test.csv")
    assert report["score"] == round(float((answers["label"] == 0).mean()), 5)
    assert report["valid_submission"] and len(report["answers_sha256"]) == 64


def test_grade_writes_mlebench_aggregate(home: Path, tmp_path: Path) -> None:
    data = home / "data"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nimg_00001,3\n")
    lines = [
        {
            "competition_id": "demo-digits",
            "submission_path": str(data / "demo-digits/prepared/public/sample_submission.csv"),
        },
        {"competition_id": "demo-digits", "submission_path": str(bad)},
        {"competition_id": "demo-digits", "submission_path": str(tmp_path / "missing.csv")},
        {
            "competition_id": "spooky-author-identification",
            "submission_path": str(data / "spooky-author-identification/prepared/public/sample_submission.csv"),
        },
    ]
    jsonl = tmp_path / "submissions.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = mleredux("grade", "--submission", str(jsonl), "--output-dir", str(tmp_path / "out"), home=home)
    assert result.returncode == 0, result.stderr
    [written] = list((tmp_path / "out").glob("*_grading_report.json"))
    summary = json.loads(written.read_text())
    assert summary["total_runs"] == 4
    assert summary["total_runs_with_submissions"] == 3
    assert summary["total_valid_submissions"] == 2
    assert summary["total_medals"] == 0
    for key in ("total_gold_medals", "total_silver_medals", "total_bronze_medals", "total_above_median"):
        assert summary[key] == 0
    reasons = [r["invalid_reason"] for r in summary["competition_reports"]]
    assert reasons[1] is not None and "ids are missing" in reasons[1]


def test_grade_reports_unknown_competitions_per_line(home: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "submissions.jsonl"
    jsonl.write_text(json.dumps({"competition_id": "no-such-comp", "submission_path": "x.csv"}) + "\n")
    result = mleredux("grade", "--submission", str(jsonl), "--output-dir", str(tmp_path / "out"), home=home)
    assert result.returncode == 1
    assert "line 1 (no-such-comp): unknown competition" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_mlebench_data_dir_without_manifest_grades_unchanged(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "mlebench-data"
    shutil.copytree(home / "data" / "demo-digits", data / "demo-digits")
    (data / "demo-digits" / "prepared" / "manifest.json").unlink()
    before = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    sample = data / "demo-digits" / "prepared" / "public" / "sample_submission.csv"
    result = mleredux("grade-sample", str(sample), "demo-digits", "--data-dir", str(data), home=home)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == before


def test_prepare_errors_are_one_clear_line(home: Path, tmp_path: Path) -> None:
    missing = mleredux(
        "prepare", "-c", "spooky-author-identification", "--raw", str(tmp_path / "nope.zip"), "--overwrite", home=home
    )
    assert missing.returncode != 0 and "raw data not found" in missing.stderr and "Traceback" not in missing.stderr
    unknown = mleredux("prepare", "-c", "spooky-author-identifcation", home=home)
    assert "Did you mean 'spooky-author-identification'" in unknown.stderr
