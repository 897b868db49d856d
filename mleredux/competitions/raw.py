"""Raw competition files as Kaggle ships them: a folder, a zip, and zips inside zips.

`RawData` finds a file by name whether it is already extracted or still inside one of the
archives, and extracts safely: no path may escape the target (zip-slip), links are refused, and
the total uncompressed size is capped before anything is written.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from mleredux.errors import MleReduxError

#: Refuse archives that would expand beyond this (a zip bomb, or simply not the data we expect).
DEFAULT_MAX_UNCOMPRESSED = 512 * 1024**3


class UnsafeArchiveError(MleReduxError):
    """An archive tries to write outside its target, holds links, or expands beyond the cap."""

    grpc_code = "INVALID_ARGUMENT"


class RawFileMissingError(MleReduxError):
    """The raw data lacks a file the competition needs."""

    grpc_code = "FAILED_PRECONDITION"


def _safe_members(archive: zipfile.ZipFile, target: Path, max_bytes: int) -> list[zipfile.ZipInfo]:
    root = target.resolve()
    total = 0
    members = []
    for info in archive.infolist():
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts:
            raise UnsafeArchiveError(f"{archive.filename}: member {info.filename!r} would escape the target")
        destination = (root / Path(*name.parts)).resolve() if name.parts else root
        if destination != root and root not in destination.parents:
            raise UnsafeArchiveError(f"{archive.filename}: member {info.filename!r} would escape the target")
        mode = (info.external_attr >> 16) & 0o170000
        if mode == 0o120000:
            raise UnsafeArchiveError(f"{archive.filename}: member {info.filename!r} is a symbolic link")
        total += info.file_size
        if total > max_bytes:
            raise UnsafeArchiveError(
                f"{archive.filename} expands to more than {max_bytes / 1024**3:.1f} GiB; refusing to extract"
            )
        members.append(info)
    return members


def uncompressed_size(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def safe_extract(path: Path, target: Path, *, max_bytes: int = DEFAULT_MAX_UNCOMPRESSED) -> Path:
    """Extract a zip into `target` after checking every member; returns `target`."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UnsafeArchiveError(f"{path} is not a readable zip archive: {exc}") from None
    with archive:
        members = _safe_members(archive, target, max_bytes)
        existing = next(p for p in (target, *target.parents) if p.exists())
        free = shutil.disk_usage(existing).free
        needed = sum(m.file_size for m in members)
        if needed > free:
            raise UnsafeArchiveError(
                f"extracting {path.name} needs {needed / 1024**2:.0f} MiB but only {free / 1024**2:.0f} MiB are free"
            )
        target.mkdir(parents=True, exist_ok=True)
        for member in members:
            archive.extract(member, target)
    return target


class RawData:
    """A competition's raw files under `root`, extracting inner archives into `scratch` on first use.

    The user's raw folder is never written to: archives found in it are extracted into `scratch`.
    """

    def __init__(self, root: Path, scratch: Path, *, max_bytes: int = DEFAULT_MAX_UNCOMPRESSED) -> None:
        self.root = root
        self.scratch = scratch
        self.max_bytes = max_bytes
        self._extracted: set[Path] = set()

    def _find(self, name: str) -> Path | None:
        for base in (self.root, self.scratch):
            direct = base / name
            if direct.exists():
                return direct
        for base in (self.root, self.scratch):
            if not base.is_dir():
                continue
            for match in sorted(base.rglob(PurePosixPath(name).name)):
                if match.as_posix().endswith(name):
                    return match
        return None

    def _archives(self) -> list[Path]:
        found = [p for base in (self.root, self.scratch) if base.is_dir() for p in sorted(base.rglob("*.zip"))]
        return [p for p in found if p not in self._extracted]

    def _extraction_dir(self, archive: Path) -> Path:
        # `train.zip` holding bare images extracts to `scratch/train`, so `path("train")` is that
        # folder; one holding a `train/` folder extracts beside it, so the folder is not nested in
        # another `train`; `labels.csv.zip` must not become a folder named `labels.csv` that would
        # shadow the file inside it.
        stem = archive.stem
        if PurePosixPath(stem).suffix:
            return self.scratch / f"{archive.name}.d"
        try:
            with zipfile.ZipFile(archive) as opened:
                tops = {PurePosixPath(n.replace("\\", "/")).parts[0] for n in opened.namelist() if n.strip("/")}
        except (OSError, zipfile.BadZipFile):
            tops = set()  # safe_extract reports the bad archive
        if tops == {stem}:
            return self.scratch / f"{archive.name}.d"
        return self.scratch / stem

    def path(self, name: str) -> Path:
        """The extracted path of `name` (a file or folder, relative to the competition's root)."""
        found = self._find(name)
        if found is not None:
            return found
        # Kaggle ships `train.csv` as `train.csv.zip` or `train.zip`, folders as `train.zip`; try those
        # first, then every other archive, nested ones included.
        first = PurePosixPath(name).parts[0]
        preferred = {f"{name}.zip", f"{first}.zip", f"{PurePosixPath(first).stem}.zip"}
        while True:
            archives = self._archives()
            if not archives:
                break
            archives.sort(key=lambda p: (p.name not in preferred, p.as_posix()))
            archive = archives[0]
            self._extracted.add(archive)
            safe_extract(archive, self._extraction_dir(archive), max_bytes=self.max_bytes)
            found = self._find(name)
            if found is not None:
                return found
        raise RawFileMissingError(f"the raw data in {self.root} has no {name!r} (nor an archive holding it)")

    def find(self, pattern: str) -> list[Path]:
        """Every file matching a glob pattern, in the raw folder and in what has been extracted."""
        return sorted(p for base in (self.root, self.scratch) if base.is_dir() for p in base.rglob(pattern))
