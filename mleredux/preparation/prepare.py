"""Preparing a competition into the MLE-bench layout, with a checksum manifest, and publishing it.

Layout: `<data-dir>/<id>/prepared/{public,private}/`, `<data-dir>/<id>/prepared/manifest.json` and
`<data-dir>/<id>/leaderboard.csv`. A preparation is built in a temp dir beside its target and renamed
into place only when complete, so a crash never leaves a partial tree that looks prepared. A
preparation found on disk is reused only after every file matches its manifest.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mleredux.competitions import Competition, get_competition
from mleredux.competitions.raw import RawData, RawFileMissingError, safe_extract
from mleredux.errors import CompetitionNotSupportedError, NotPreparedError
from mleredux.preparation.manifest import (
    MANIFEST,
    FileChecksum,
    Manifest,
    content_hash,
    has_manifest,
    read_manifest,
    verify_files,
    write_manifest,
)
from mleredux.store import ArtifactStore, sha256_file


@dataclass(frozen=True)
class PrepareProgress:
    """One progress update; `stage` is verify, download, extract, split, checksum, publish or done."""

    stage: str
    message: str
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True)
class PreparedDataset:
    """A prepared competition on this host."""

    competition_id: str
    public_dir: Path
    private_dir: Path
    #: sha256 over the manifest's (path, sha256) lines: names the dataset in the store.
    content_hash: str
    files: tuple[FileChecksum, ...]
    #: True when an existing, verified preparation was reused.
    reused: bool

    @property
    def public_files(self) -> tuple[FileChecksum, ...]:
        return tuple(f for f in self.files if f.path.startswith("public/"))


ProgressCallback = Callable[[PrepareProgress], None]


def _quiet(_: PrepareProgress) -> None:
    return None


def prepared_dir(competition_id: str, data_dir: Path) -> Path:
    return data_dir / competition_id / "prepared"


def checksum_tree(root: Path, progress: ProgressCallback = _quiet) -> tuple[FileChecksum, ...]:
    """Checksums of every file under root/public and root/private (media included), sorted by path."""
    paths = sorted(
        p for part in ("public", "private") if (root / part).is_dir() for p in (root / part).rglob("*") if p.is_file()
    )
    total = sum(p.stat().st_size for p in paths)
    done = 0
    out = []
    for index, path in enumerate(paths, 1):
        size = path.stat().st_size
        out.append(FileChecksum(path.relative_to(root).as_posix(), sha256_file(path), size))
        done += size
        progress(PrepareProgress("checksum", path.name, index, len(paths), done, total))
    return tuple(out)


def _write_manifest(root: Path, competition_id: str, files: tuple[FileChecksum, ...]) -> None:
    write_manifest(root, Manifest(files, {"competition_id": competition_id}))


def verify_prepared(
    competition_id: str, data_dir: Path, progress: ProgressCallback = _quiet
) -> tuple[FileChecksum, ...]:
    """Check every file against the manifest; ChecksumMismatchError names the files that differ.

    A prepared dir without a manifest (for instance one made by MLE-bench) gets one written now.
    """
    root = prepared_dir(competition_id, data_dir)
    actual = checksum_tree(root, progress)
    if not has_manifest(root):
        _write_manifest(root, competition_id, actual)
        return actual
    return verify_files(
        read_manifest(root),
        actual,
        what=f"prepared files of {competition_id} in {root}",
        remedy="prepare again with --overwrite (or --overwrite-checksums to accept the files as they are)",
    )


def _dataset(competition_id: str, data_dir: Path, files: tuple[FileChecksum, ...], reused: bool) -> PreparedDataset:
    root = prepared_dir(competition_id, data_dir)
    return PreparedDataset(
        competition_id=competition_id,
        public_dir=root / "public",
        private_dir=root / "private",
        content_hash=content_hash(files),
        files=files,
        reused=reused,
    )


def install_prepared(staging: Path, root: Path) -> None:
    """Make the finished tree `staging` the preparation at `root`, replacing any older one.

    A reader sees the old tree or the new one, never a mix: the old one is moved aside first so the
    final rename is atomic, and removed after.
    """
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=".replaced-", dir=root.parent))
        root.rename(old / "prepared")
        staging.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(root)


def _is_prepared(root: Path) -> bool:
    return (root / "public").is_dir() and (root / "private").is_dir()


def _supported(competition_id: str) -> Competition:
    competition = get_competition(competition_id)
    if not competition.info.supported:
        raise CompetitionNotSupportedError(
            f"competition {competition_id!r} is listed but preparing it is not supported yet"
        )
    return competition


def prepare_competition(
    competition_id: str,
    data_dir: Path,
    *,
    raw: Path | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    overwrite_checksums: bool = False,
    keep_raw: bool = False,
    kaggle_api: Any = None,
) -> PreparedDataset:
    """Prepare (or verify and reuse) a competition in `data_dir`.

    With no `raw` files, a competition that is not built in is downloaded from Kaggle (through
    `kaggle_api` when given: the boundary tests fake).
    """
    report = progress or _quiet
    competition = _supported(competition_id)
    root = prepared_dir(competition_id, data_dir)
    if _is_prepared(root) and not overwrite:
        report(PrepareProgress("verify", f"verifying the existing preparation in {root}"))
        if overwrite_checksums:
            files = checksum_tree(root, report)
            _write_manifest(root, competition_id, files)
        else:
            files = verify_prepared(competition_id, data_dir, report)
        _ensure_leaderboard(competition, data_dir)
        report(PrepareProgress("done", "reused", len(files), len(files)))
        return _dataset(competition_id, data_dir, files, reused=True)
    if raw is None and not competition.info.offline:
        # Lazy: the kaggle package is only needed (and only imported) when something is downloaded.
        from mleredux.preparation.kaggle import download_competition, download_leaderboard

        downloads = root.parent / "download"
        report(PrepareProgress("download", f"downloading {competition_id} from Kaggle"))
        raw = download_competition(competition_id, downloads, progress=report, api=kaggle_api)
        leaderboard = root.parent / "leaderboard.csv"
        if not leaderboard.is_file():
            download_leaderboard(competition_id, leaderboard, api=kaggle_api)

    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepared-", dir=root.parent))
    scratch = root.parent / "raw" if keep_raw else staging / "raw"
    try:
        (staging / "public").mkdir()
        (staging / "private").mkdir()
        raw_data = _open_raw(raw, scratch, report) if raw is not None else None
        report(PrepareProgress("split", f"splitting {competition_id} into public and private"))
        competition.prepare(raw_data, staging / "public", staging / "private")
        if raw_data is not None:
            _leaderboard_from_raw(raw_data, competition, data_dir)
        shutil.rmtree(staging / "raw", ignore_errors=True)
        files = checksum_tree(staging, report)
        _write_manifest(staging, competition_id, files)
        install_prepared(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not keep_raw:
        shutil.rmtree(root.parent / "download", ignore_errors=True)
    _ensure_leaderboard(competition, data_dir)
    report(PrepareProgress("done", "prepared", len(files), len(files)))
    return _dataset(competition_id, data_dir, files, reused=False)


def _open_raw(raw: Path, scratch: Path, report: ProgressCallback) -> RawData:
    """The raw files: a folder as it is, or the competition's Kaggle zip extracted into `scratch`."""
    if not raw.exists():
        raise RawFileMissingError(f"raw data not found: {raw}")
    if raw.is_dir():
        return RawData(raw, scratch)
    report(PrepareProgress("extract", f"extracting {raw.name}", bytes_total=raw.stat().st_size))
    target = scratch / "download"
    safe_extract(raw, target)
    return RawData(target, scratch / "inner")


def _leaderboard_from_raw(raw: RawData, competition: Competition, data_dir: Path) -> None:
    """Copy a leaderboard shipped with the raw files (Kaggle's `<id>-*leaderboard.csv`) beside the data."""
    candidates = [p for p in raw.find("*leaderboard*.csv") if p.is_file()]
    if not candidates:
        return
    write_leaderboard(candidates[0], data_dir / competition.id / "leaderboard.csv")


def write_leaderboard(source: Path, path: Path) -> None:
    """Write Kaggle's leaderboard CSV (`TeamId,TeamName,SubmissionDate,Score`) as `path`, columns camelCased."""
    try:
        board = pd.read_csv(source)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise RawFileMissingError(f"the leaderboard {source.name} is unreadable: {exc}") from exc
    board.columns = [c[:1].lower() + c[1:] for c in board.columns]
    if "score" not in board.columns:
        raise RawFileMissingError(f"the leaderboard {source.name} has no Score column")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".csv.tmp")
    board.to_csv(temp, index=False)
    temp.replace(path)


def _ensure_leaderboard(competition: Competition, data_dir: Path) -> None:
    path = data_dir / competition.id / "leaderboard.csv"
    if path.is_file():
        return
    board = competition.leaderboard()
    if board is not None:
        temp = path.with_suffix(".csv.tmp")
        board.to_csv(temp, index=False)
        temp.replace(path)


def load_prepared(competition_id: str, data_dir: Path) -> PreparedDataset:
    """The prepared dataset on this host, from its manifest (not re-hashed: see `verify_prepared`)."""
    get_competition(competition_id)
    root = prepared_dir(competition_id, data_dir)
    if not _is_prepared(root):
        raise NotPreparedError(
            f"{competition_id} is not prepared in {data_dir} (run `mleredux prepare -c {competition_id}`)"
        )
    if not has_manifest(root):
        return _dataset(competition_id, data_dir, verify_prepared(competition_id, data_dir), reused=True)
    return _dataset(competition_id, data_dir, read_manifest(root).files, reused=True)


def dataset_prefix(dataset: PreparedDataset) -> str:
    return f"datasets/{dataset.competition_id}/{dataset.content_hash}/"


def publish_dataset(dataset: PreparedDataset, store: ArtifactStore, progress: ProgressCallback | None = None) -> str:
    """Upload the public files under `datasets/<id>/<hash>/public/` and return the prefix.

    Answers never leave this host through the store: runners need only the public files. Keys that
    already exist are skipped (a content-addressed prefix never changes), and the manifest is written
    last so a reader that sees it knows every file is there.
    """
    report = progress or _quiet
    prefix = dataset_prefix(dataset)
    marker = prefix + MANIFEST
    if store.exists(marker):
        return prefix
    present = {item.key for item in store.list(prefix)}
    root = dataset.public_dir.parent
    files = dataset.public_files
    total = sum(f.size for f in files)
    done = 0
    for index, item in enumerate(files, 1):
        key = prefix + item.path
        if key not in present:
            store.put_file(key, root / item.path)
        done += item.size
        report(PrepareProgress("publish", item.path, index, len(files), done, total))
    # The public files only, named by the whole preparation's hash (the prefix's name).
    manifest = Manifest(files, {"competition_id": dataset.competition_id}, content_hash=dataset.content_hash)
    store.put_bytes(marker, manifest.to_json().encode())
    return prefix
