"""Downloading a competition and its leaderboard from Kaggle through the `kaggle` package.

Everything that can go wrong before the files arrive gets its own error and message: no
credentials, rules not accepted (naming the page to accept them), a competition Kaggle does not
know, another HTTP error, the network. Only failures that may pass (network, 429, 5xx) are retried,
with exponential backoff. The `kaggle` package is imported lazily: importing it authenticates at
import time, and nothing else in the project needs it.

Tests pass a fake `api` object (the package's `KaggleApi` surface) because Kaggle is unreachable
from here; this module is the boundary.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mleredux.competitions import get_competition
from mleredux.errors import MleReduxError
from mleredux.preparation.prepare import PrepareProgress, write_leaderboard

T = TypeVar("T")

#: Attempts for a transient failure, and the first pause between them (doubled each time).
RETRY_ATTEMPTS = 4
RETRY_FIRST_DELAY_S = 2.0
#: A download needs its archive, its extraction and the prepared copy on disk at once.
DOWNLOAD_DISK_FACTOR = 3


class KaggleError(MleReduxError):
    """A Kaggle download failed; the subclass says why."""

    grpc_code = "UNAVAILABLE"


class KaggleCredentialsMissingError(KaggleError):
    """No Kaggle credentials were found, or Kaggle refused them."""

    grpc_code = "FAILED_PRECONDITION"


class KaggleRulesNotAcceptedError(KaggleError):
    """Kaggle answered 403: the competition's rules have not been accepted with this account."""

    grpc_code = "FAILED_PRECONDITION"


class KaggleNotFoundError(KaggleError):
    """Kaggle answered 404 for the competition."""

    grpc_code = "NOT_FOUND"


class KaggleHTTPError(KaggleError):
    """Kaggle answered with another HTTP error (429 and 5xx are retried first)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class KaggleNetworkError(KaggleError):
    """Kaggle could not be reached (DNS, connection, timeout)."""


class InsufficientDiskError(KaggleError):
    """Not enough free disk for the download, its extraction and the prepared copy."""

    grpc_code = "RESOURCE_EXHAUSTED"


def rules_url(competition_id: str) -> str:
    return f"https://www.kaggle.com/competitions/{competition_id}/rules"


def _kaggle_dir(env: dict[str, str] | os._Environ[str]) -> Path:
    configured = env.get("KAGGLE_CONFIG_DIR")
    return Path(configured) if configured else Path.home() / ".kaggle"


def find_credentials(env: dict[str, str] | os._Environ[str] | None = None) -> str | None:
    """Where Kaggle credentials would come from (as the `kaggle` package looks for them), or None."""
    env = os.environ if env is None else env
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "the KAGGLE_USERNAME and KAGGLE_KEY environment variables"
    if env.get("KAGGLE_API_TOKEN"):
        return "the KAGGLE_API_TOKEN environment variable"
    folder = _kaggle_dir(env)
    config = folder / "kaggle.json"
    if config.is_file():
        try:
            values = json.loads(config.read_text())
        except (OSError, ValueError):
            return None
        if isinstance(values, dict) and values.get("username") and values.get("key"):
            return str(config)
    if (folder / "access_token").is_file():
        return str(folder / "access_token")
    return None


def _missing_credentials() -> KaggleCredentialsMissingError:
    return KaggleCredentialsMissingError(
        "no Kaggle credentials: create an API token at https://www.kaggle.com/settings (Account, API, "
        "Create New Token) and save it as ~/.kaggle/kaggle.json, or set KAGGLE_USERNAME and KAGGLE_KEY; "
        "or prepare offline from files you already have with `mleredux prepare -c ID --raw PATH`"
    )


def connect(api: Any = None) -> Any:
    """An authenticated `KaggleApi` (or the given one), or KaggleCredentialsMissingError."""
    if api is not None:
        return api
    if find_credentials() is None:
        raise _missing_credentials()
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as exc:  # pragma: no cover - kaggle is a dependency
        raise KaggleError(f"the kaggle package is not installed: {exc}") from exc
    client = KaggleApi()
    try:
        client.authenticate()
    except SystemExit:
        # The package prints its own help and exits when it finds nothing usable.
        raise _missing_credentials() from None
    return client


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "status", None)
    return int(status) if isinstance(status, int) else None


def _is_network(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - requests comes with kaggle
        return isinstance(exc, (ConnectionError, TimeoutError))
    return isinstance(exc, (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout))


def classify(exc: BaseException, competition_id: str, action: str) -> KaggleError:
    """The specific error for a failure of `action` (e.g. "downloading the data")."""
    if isinstance(exc, KaggleError):
        return exc
    status = _status_of(exc)
    if status == 401:
        return KaggleCredentialsMissingError(
            f"Kaggle refused the credentials from {find_credentials() or 'the environment'} (401) while "
            f"{action} for {competition_id}: create a new API token at https://www.kaggle.com/settings"
        )
    if status == 403:
        return KaggleRulesNotAcceptedError(
            f"Kaggle refused {action} for {competition_id} (403): accept the competition's rules at "
            f"{rules_url(competition_id)} with the account whose credentials are configured, then retry"
        )
    if status == 404:
        return KaggleNotFoundError(
            f"Kaggle has no competition {competition_id!r} (404) or it is not visible to this account"
        )
    if status is not None:
        return KaggleHTTPError(f"Kaggle answered HTTP {status} while {action} for {competition_id}: {exc}", status)
    if _is_network(exc):
        return KaggleNetworkError(f"could not reach Kaggle while {action} for {competition_id}: {exc}")
    return KaggleError(f"{action} for {competition_id} failed: {exc!r}")


def _transient(error: KaggleError) -> bool:
    if isinstance(error, KaggleNetworkError):
        return True
    if isinstance(error, KaggleHTTPError):
        return error.status == 429 or 500 <= error.status < 600
    return False


def with_retries(
    call: Callable[[], T],
    competition_id: str,
    action: str,
    *,
    attempts: int = RETRY_ATTEMPTS,
    first_delay_s: float = RETRY_FIRST_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying network failures, 429 and 5xx with exponential backoff; others fail at once."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # every failure is classified; unknown ones are not retried
            error = classify(exc, competition_id, action)
            if not _transient(error) or attempt == attempts:
                if attempt > 1:
                    error.args = (f"{error} (after {attempt} attempts)",)
                raise error from exc
        sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class AccessCheck:
    """Whether this machine can download a competition: credentials, and the rules accepted."""

    credentials_found: bool
    #: None when it could not be told (no credentials, network down).
    rules_accepted: bool | None
    message: str


def _competition_ref(entry: Any) -> str:
    ref = str(getattr(entry, "ref", "") or getattr(entry, "url", ""))
    return ref.rstrip("/").rsplit("/", 1)[-1]


def check_access(competition_id: str, api: Any = None) -> AccessCheck:
    """Credentials and rules acceptance for one competition, asking Kaggle nothing but its competition list."""
    try:
        client = connect(api)
    except KaggleCredentialsMissingError as exc:
        return AccessCheck(False, None, str(exc))
    try:
        listed = with_retries(
            lambda: client.competitions_list(search=competition_id, category="all"),
            competition_id,
            "looking the competition up",
            attempts=2,
            first_delay_s=1.0,
        )
    except KaggleCredentialsMissingError as exc:
        return AccessCheck(False, None, str(exc))
    except KaggleError as exc:
        return AccessCheck(True, None, str(exc))
    entries = getattr(listed, "competitions", listed) or []
    for entry in entries:
        if _competition_ref(entry) == competition_id:
            if getattr(entry, "user_has_entered", False):
                return AccessCheck(True, True, "rules accepted")
            return AccessCheck(True, False, f"accept the rules at {rules_url(competition_id)}")
    return AccessCheck(True, None, f"Kaggle's competition search did not return {competition_id}")


def _folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue  # a temp file renamed under us
    return total


def download_competition(
    competition_id: str,
    target_dir: Path,
    *,
    progress: Callable[[PrepareProgress], None] | None = None,
    api: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval_s: float = 0.5,
) -> Path:
    """Download the competition's files zip into `target_dir`; returns the zip's path.

    A zip already there from an earlier, interrupted preparation is reused when it is readable.
    """
    approx = get_competition(competition_id).info.approx_size_bytes
    target_dir.mkdir(parents=True, exist_ok=True)
    archive = target_dir / f"{competition_id}.zip"
    if archive.is_file() and zipfile.is_zipfile(archive):
        return archive
    free = shutil.disk_usage(target_dir).free
    if approx * DOWNLOAD_DISK_FACTOR > free:
        raise InsufficientDiskError(
            f"{competition_id} needs about {approx * DOWNLOAD_DISK_FACTOR / 1024**3:.1f} GiB free in {target_dir} "
            f"(download, extraction and prepared copy); {free / 1024**3:.1f} GiB are free"
        )
    client = connect(api)
    report = progress or (lambda _update: None)

    # The package downloads with no callback; a watcher reports the bytes on disk meanwhile.
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(poll_interval_s):
            report(PrepareProgress("download", f"downloading {competition_id}", 0, 1, _folder_size(target_dir), approx))

    watcher = threading.Thread(target=watch, name=f"kaggle-progress-{competition_id}", daemon=True)
    watcher.start()
    try:
        with_retries(
            lambda: client.competition_download_files(competition_id, path=str(target_dir), quiet=True),
            competition_id,
            "downloading the data",
            sleep=sleep,
        )
    finally:
        finished.set()
        watcher.join()
    if not archive.is_file():
        found = sorted(target_dir.glob("*.zip"))
        if not found:
            raise KaggleError(f"Kaggle's download of {competition_id} left no zip in {target_dir}")
        archive = found[0]
    size = archive.stat().st_size
    report(PrepareProgress("download", f"downloaded {archive.name}", 1, 1, size, size))
    return archive


def download_leaderboard(
    competition_id: str,
    path: Path,
    *,
    api: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download the public leaderboard and write it as `path` (`<data-dir>/<id>/leaderboard.csv`)."""
    client = connect(api)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".leaderboard-", dir=path.parent) as scratch:
        folder = Path(scratch)
        with_retries(
            lambda: client.competition_leaderboard_download(competition_id, str(folder), quiet=True),
            competition_id,
            "downloading the leaderboard",
            sleep=sleep,
        )
        csvs = sorted(folder.glob("*.csv"))
        for archive in sorted(folder.glob("*.zip")):
            try:
                with zipfile.ZipFile(archive) as opened:
                    for member in opened.infolist():
                        if member.filename.endswith(".csv") and "/" not in member.filename.strip("/"):
                            (folder / member.filename).write_bytes(opened.read(member))
                            csvs.append(folder / member.filename)
            except zipfile.BadZipFile as exc:
                raise KaggleError(f"Kaggle's leaderboard download for {competition_id} is not a zip: {exc}") from exc
        if not csvs:
            raise KaggleError(f"Kaggle's leaderboard download for {competition_id} holds no CSV")
        write_leaderboard(csvs[0], path)
    return path
