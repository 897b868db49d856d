"""Helpers shared by the media competitions (images, audio): find raw files, place them in public/.

Kaggle ships media folders either extracted or as `train.zip` holding `train/…`; once `RawData`
has extracted them the files may sit one folder deeper than the name suggests, so files are
looked up recursively by name. Files are hard-linked when raw and prepared data share a file
system (the datasets are tens of gigabytes) and copied otherwise.

This module registers nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from mleredux.competitions.raw import RawData, RawFileMissingError


def raw_file(raw: RawData, name: str) -> Path:
    """The raw file `name`, also when `name.zip` was extracted into a folder called `name`.

    (`RawData` extracts `labels.csv.zip` into `<scratch>/labels.csv/`, a folder that then shadows
    the file inside it.)
    """
    found = raw.path(name)
    if found.is_dir():
        inner = sorted(p for p in found.rglob(Path(name).name) if p.is_file())
        if not inner:
            raise RawFileMissingError(f"the raw data has a folder {found} but no file {name!r}")
        return inner[0]
    return found


def media_files(raw: RawData, folder: str, suffix: str) -> dict[str, Path]:
    """Every `*suffix` file under the raw folder `folder` (however deeply nested), by file name."""
    root = raw.path(folder)
    found: dict[str, Path] = {}
    for path in sorted(root.rglob(f"*{suffix}")):
        if path.is_file():
            found.setdefault(path.name, path)
    if not found:
        raise RawFileMissingError(f"the raw folder {folder!r} ({root}) holds no {suffix} files")
    return found


def place(source: Path, target: Path) -> None:
    """Hard-link `source` to `target`, or copy it when linking is impossible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def place_all(files: dict[str, Path], pairs: Iterable[tuple[str, str]], target_dir: Path) -> int:
    """Place each (raw file name, public file name) pair into `target_dir`; returns how many."""
    target_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for source_name, target_name in pairs:
        source = files.get(source_name)
        if source is None:
            raise RawFileMissingError(f"the raw data lacks the media file {source_name!r}")
        place(source, target_dir / target_name)
        count += 1
    return count
