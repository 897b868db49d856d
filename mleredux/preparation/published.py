"""Reading a published dataset back from the store, on any host, by its content hash.

The preparer publishes a competition's public files under `datasets/<id>/<hash>/` and writes
`manifest.json` (paths, sizes, sha256) last. A reader trusts only what the manifest lists: a prefix
with no manifest is a publication still in progress (or abandoned), and every fetched file is
checked against its checksum before the copy becomes visible under its final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from mleredux.errors import ChecksumMismatchError, StoreError
from mleredux.preparation.manifest import MANIFEST, FileChecksum, parse_manifest
from mleredux.store import ArtifactStore, sha256_file


def read_published_manifest(store: ArtifactStore, prefix: str) -> tuple[FileChecksum, ...]:
    """The files (paths relative to the prefix) a complete publication under `prefix` holds, or
    StoreError when it is not complete or its manifest cannot be trusted."""
    prefix = prefix.rstrip("/") + "/"
    key = prefix + MANIFEST
    if not store.exists(key):
        raise StoreError(
            f"no dataset is published under {prefix!r} in {store.url}: its {MANIFEST} is missing "
            "(never published, or publishing did not finish)"
        )
    try:
        return parse_manifest(store.get_bytes(key)).files
    except ValueError as exc:
        raise StoreError(f"the manifest {key} in {store.url} is unreadable: {exc}") from exc


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
