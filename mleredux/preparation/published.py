"""Reading a published dataset back from the store, on any host, by its content hash.

The preparer publishes a competition's public files under `datasets/<id>/<hash>/` and writes
`manifest.json` (paths, sizes, sha256) last. A reader trusts only what the manifest lists: a prefix
with no manifest is a publication still in progress (or abandoned), and every fetched file is
checked against its checksum before the copy becomes visible under its final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mleredux.errors import ChecksumMismatchError, StoreError
from mleredux.store import ArtifactStore, sha256_file

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class PublishedFile:
    """One file of a published dataset, as its manifest lists it (path relative to the prefix)."""

    path: str
    sha256: str
    size: int


def read_published_manifest(store: ArtifactStore, prefix: str) -> list[PublishedFile]:
    """The files a complete publication under `prefix` holds, or StoreError when it is not complete."""
    prefix = prefix.rstrip("/") + "/"
    key = prefix + MANIFEST_NAME
    if not store.exists(key):
        raise StoreError(
            f"no dataset is published under {prefix!r} in {store.url}: its {MANIFEST_NAME} is missing "
            "(never published, or publishing did not finish)"
        )
    try:
        body = json.loads(store.get_bytes(key))
        files = [PublishedFile(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in body["files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"the manifest {key} in {store.url} is unreadable: {exc}") from exc
    for item in files:
        parts = PurePosixPath(item.path).parts
        if PurePosixPath(item.path).is_absolute() or ".." in parts:
            raise StoreError(f"the manifest {key} lists an unsafe path {item.path!r}")
    return files


def fetch_published_dataset(store: ArtifactStore, prefix: str, target: Path, *, subdir: str = "public") -> Path:
    """Download the manifest's files under `subdir/` into `target`, verified; returns `target`.

    The copy is staged beside `target` and renamed into place, so a reader never sees half a
    dataset; an existing `target` is taken as complete (it could only have been renamed whole).
    """
    if target.is_dir():
        return target
    prefix = prefix.rstrip("/") + "/"
    wanted = [f for f in read_published_manifest(store, prefix) if PurePosixPath(f.path).parts[:1] == (subdir,)]
    if not wanted:
        raise StoreError(f"the dataset under {prefix!r} in {store.url} has no {subdir}/ files")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".fetch-"))
    try:
        bad = []
        for item in wanted:
            local = staging.joinpath(*PurePosixPath(item.path).parts[1:])
            store.get_file(prefix + item.path, local)
            if local.stat().st_size != item.size or sha256_file(local) != item.sha256:
                bad.append(item.path)
        if bad:
            raise ChecksumMismatchError(
                f"{len(bad)} files fetched from {prefix!r} do not match the manifest: {', '.join(bad[:5])}"
            )
        os.chmod(staging, 0o755)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
