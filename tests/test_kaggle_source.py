"""The Kaggle download path. Kaggle is unreachable here, so its API object is the one thing faked.

The fake stands exactly where `kaggle.api.kaggle_api_extended.KaggleApi` stands: it writes the
zips Kaggle would (built by the same raw generators the Lite tests use) or raises the
`requests.HTTPError` / `requests.ConnectionError` the package raises. Everything after it is real.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from mleredux.grading.submission import grade_submission
from mleredux.preparation import kaggle as kaggle_source
from mleredux.preparation.kaggle import (
    KaggleCredentialsMissingError,
    KaggleHTTPError,
    KaggleNetworkError,
    KaggleNotFoundError,
    KaggleRulesNotAcceptedError,
    check_access,
    download_competition,
    find_credentials,
    with_retries,
)
from mleredux.preparation.prepare import PrepareProgress, prepare_competition
from tests.lite.gen_spooky_author_identification import SPEC as SPOOKY

COMPETITION = "spooky-author-identification"


def http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.url = f"https://www.kaggle.com/api/v1/competitions/data/download-all/{COMPETITION}"
    return requests.HTTPError(f"{status} Client Error", response=response)


@dataclass
class Entry:
    ref: str
    user_has_entered: bool


@dataclass
class FakeKaggleApi:
    """The `KaggleApi` methods the preparer calls; `failures` are raised, in order, before success."""

    raw_dir: Path
    failures: list[BaseException] = field(default_factory=list)
    entered: bool = True
    calls: list[str] = field(default_factory=list)

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def competition_download_files(self, competition: str, path: str, quiet: bool = True) -> None:
        self.calls.append(f"download {competition}")
        self._maybe_fail()
        with zipfile.ZipFile(Path(path) / f"{competition}.zip", "w") as archive:
            for file in sorted(self.raw_dir.iterdir()):
                if "leaderboard" not in file.name:
                    archive.write(file, file.name)

    def competition_leaderboard_download(self, competition: str, path: str, quiet: bool = True) -> None:
        self.calls.append(f"leaderboard {competition}")
        self._maybe_fail()
        board = next(self.raw_dir.glob("*leaderboard*.csv"))
        with zipfile.ZipFile(Path(path) / f"{competition}.zip", "w") as archive:
            archive.write(board, f"{competition}-publicleaderboard.csv")

    def competitions_list(self, search: str | None = None, category: str | None = None) -> Any:
        self.calls.append(f"list {search}")
        self._maybe_fail()
        return [Entry(f"https://www.kaggle.com/competitions/{search}", self.entered), Entry("other", True)]


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    raw = tmp_path / "kaggle-side"
    raw.mkdir()
    SPOOKY.write_raw(raw, np.random.default_rng(3))
    return raw


def no_sleep(_seconds: float) -> None:
    return None


def test_download_prepares_grades_and_puts_the_leaderboard_beside_the_data(tmp_path: Path, raw_dir: Path) -> None:
    api = FakeKaggleApi(raw_dir)
    updates: list[PrepareProgress] = []
    data_dir = tmp_path / "data"
    dataset = prepare_competition(COMPETITION, data_dir, kaggle_api=api, progress=updates.append)
    board = pd.read_csv(data_dir / COMPETITION / "leaderboard.csv")
    assert "score" in board.columns and len(board) == 1200
    assert api.calls == [f"download {COMPETITION}", f"leaderboard {COMPETITION}"]
    assert any(u.stage == "download" and u.bytes_total > 0 for u in updates)
    assert not (data_dir / COMPETITION / "download").exists(), "the download is removed unless --keep-raw"
    report = grade_submission(dataset.public_dir / "sample_submission.csv", COMPETITION, data_dir)
    assert report.valid_submission and report.score is not None and report.score > 0


def test_keep_raw_keeps_the_download(tmp_path: Path, raw_dir: Path) -> None:
    data_dir = tmp_path / "data"
    prepare_competition(COMPETITION, data_dir, kaggle_api=FakeKaggleApi(raw_dir), keep_raw=True)
    assert (data_dir / COMPETITION / "download" / f"{COMPETITION}.zip").is_file()


def test_transient_failures_are_retried_with_backoff(tmp_path: Path, raw_dir: Path) -> None:
    api = FakeKaggleApi(raw_dir, failures=[requests.ConnectionError("reset"), http_error(503), http_error(429)])
    pauses: list[float] = []
    archive = download_competition(COMPETITION, tmp_path / "dl", api=api, sleep=pauses.append)
    assert archive.is_file() and zipfile.is_zipfile(archive)
    assert pauses == [2.0, 4.0, 8.0]


def test_a_network_that_stays_down_gives_a_network_error_after_the_last_attempt(tmp_path: Path, raw_dir: Path) -> None:
    api = FakeKaggleApi(raw_dir, failures=[requests.ConnectionError("no route to host")] * 4)
    with pytest.raises(KaggleNetworkError, match=r"could not reach Kaggle.*after 4 attempts"):
        download_competition(COMPETITION, tmp_path / "dl", api=api, sleep=no_sleep)


@pytest.mark.parametrize(
    "status,error,text",
    [
        (403, KaggleRulesNotAcceptedError, f"https://www.kaggle.com/competitions/{COMPETITION}/rules"),
        (404, KaggleNotFoundError, "404"),
        (401, KaggleCredentialsMissingError, "401"),
        (400, KaggleHTTPError, "HTTP 400"),
    ],
)
def test_http_errors_fail_at_once_with_their_own_message(
    tmp_path: Path, raw_dir: Path, status: int, error: type[Exception], text: str
) -> None:
    api = FakeKaggleApi(raw_dir, failures=[http_error(status)])
    pauses: list[float] = []
    with pytest.raises(error, match=re.escape(text)):
        download_competition(COMPETITION, tmp_path / "dl", api=api, sleep=pauses.append)
    assert pauses == [], "client errors are not retried"
    assert not (tmp_path / "data").exists()


def test_a_failed_download_leaves_nothing_prepared(tmp_path: Path, raw_dir: Path) -> None:
    data_dir = tmp_path / "data"
    api = FakeKaggleApi(raw_dir, failures=[http_error(403)])
    with pytest.raises(KaggleRulesNotAcceptedError):
        prepare_competition(COMPETITION, data_dir, kaggle_api=api)
    assert not (data_dir / COMPETITION / "prepared").exists()


def test_missing_credentials_name_both_ways_to_provide_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "empty"))
    assert find_credentials() is None
    with pytest.raises(KaggleCredentialsMissingError, match=r"kaggle\.json.*KAGGLE_USERNAME.*--raw"):
        prepare_competition(COMPETITION, tmp_path / "data")
    access = check_access(COMPETITION)
    assert not access.credentials_found and access.rules_accepted is None


def test_credentials_are_found_in_kaggle_json_or_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "kaggle"
    folder.mkdir()
    (folder / "kaggle.json").write_text(json.dumps({"username": "u", "key": "k"}))
    assert find_credentials({"KAGGLE_CONFIG_DIR": str(folder)}) == str(folder / "kaggle.json")
    (folder / "kaggle.json").write_text("{not json")
    assert find_credentials({"KAGGLE_CONFIG_DIR": str(folder)}) is None
    env = {"KAGGLE_CONFIG_DIR": str(folder), "KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}
    assert find_credentials(env) == "the KAGGLE_USERNAME and KAGGLE_KEY environment variables"


def test_check_access_tells_rules_accepted_from_not(raw_dir: Path) -> None:
    assert check_access(COMPETITION, api=FakeKaggleApi(raw_dir, entered=True)).rules_accepted is True
    refused = check_access(COMPETITION, api=FakeKaggleApi(raw_dir, entered=False))
    assert refused.credentials_found and refused.rules_accepted is False
    assert f"/competitions/{COMPETITION}/rules" in refused.message
    offline = check_access(COMPETITION, api=FakeKaggleApi(raw_dir, failures=[requests.ConnectionError("down")] * 2))
    assert offline.credentials_found and offline.rules_accepted is None and "could not reach" in offline.message


def test_retries_stop_at_the_first_non_transient_error() -> None:
    outcomes: list[BaseException] = [http_error(502), http_error(404)]

    def call() -> None:
        raise outcomes.pop(0)

    pauses: list[float] = []
    with pytest.raises(KaggleNotFoundError):
        with_retries(call, COMPETITION, "downloading the data", sleep=pauses.append)
    assert pauses == [kaggle_source.RETRY_FIRST_DELAY_S]
