"""The prepared-data manifest: one format for a competition's preparation, a technique task's
derivation and a dataset published to the store.

`manifest.json` holds a format version, what the files are (`about`: the competition id; for a
technique task also its task, seed and source's content hash), the content hash that names the
dataset, and every file (path relative to `prepared/`, sha256, size). It is written after the files,
so its presence means they are complete, and read back and checked before anything is trusted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mleredux.errors import ChecksumMismatchError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
#: The keys of the format itself; any other key of the JSON object is part of `about`.
_FORMAT_KEYS = frozenset({"version", "content_hash", "files"})


@dataclass(frozen=True)
class FileChecksum:
    """A prepared file, relative to `prepared/` (so it starts with public/ or private/)."""

    path: str
    sha256: str
    size: int


def content_hash(files: tuple[FileChecksum, ...]) -> str:
    """sha256 over the files' (path, sha256) lines: the same files always give the same name."""
    digest = hashlib.sha256()
    for item in files:
        digest.update(f"{item.path}\0{item.sha256}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileChecksum, ...]
    #: What the files are, written before them in the JSON (e.g. `competition_id`).
    about: dict[str, Any] = field(default_factory=dict)
    #: The dataset's name; by default the hash of `files`. A publication lists only the public files
    #: but keeps the hash of the whole preparation, which names its prefix.
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.files))

    def to_json(self) -> str:
        body = {
            "version": MANIFEST_VERSION,
            **self.about,
            "content_hash": self.content_hash,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }
        return json.dumps(body, indent=2) + "\n"


def parse_manifest(text: str | bytes) -> Manifest:
    """The manifest in `text`; ValueError says what is wrong with it. A manifest without a version
    (published before versions were written) is read as version 1."""
    try:
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        files = tuple(FileChecksum(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in body["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    version = body.get("version", MANIFEST_VERSION)
    if version != MANIFEST_VERSION:
        raise ValueError(f"it has format version {version!r}; this release reads version {MANIFEST_VERSION}")
    for item in files:
        # Paths name files under a data dir or a store prefix: never outside it.
        if PurePosixPath(item.path).is_absolute() or ".." in PurePosixPath(item.path).parts:
            raise ValueError(f"it lists an unsafe path {item.path!r}")
    about = {key: value for key, value in body.items() if key not in _FORMAT_KEYS}
    return Manifest(files, about, content_hash=str(body.get("content_hash") or ""))


def has_manifest(root: Path) -> bool:
    return (root / MANIFEST).is_file()


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Writes `root/manifest.json` whole or not at all (a reader never sees half a manifest)."""
    temporary = root / f".{MANIFEST}.tmp"
    temporary.write_text(manifest.to_json())
    temporary.replace(root / MANIFEST)


def read_manifest(root: Path) -> Manifest:
    """`root/manifest.json`, or ChecksumMismatchError saying why it cannot be read."""
    path = root / MANIFEST
    try:
        return parse_manifest(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ChecksumMismatchError(f"the manifest {path} is unreadable: {exc}") from exc


def verify_files(
    manifest: Manifest, found: tuple[FileChecksum, ...], *, what: str, remedy: str
) -> tuple[FileChecksum, ...]:
    """The manifest's files, sorted by path, when the files `found` on disk are exactly them (by path
    and sha256); else ChecksumMismatchError: "`what` differ from the manifest (changed: ...; missing:
    ...; not in the manifest: ...); `remedy`"."""
    recorded = {f.path: f for f in manifest.files}
    actual = {f.path: f for f in found}
    changed = sorted(p for p in recorded.keys() & actual.keys() if recorded[p].sha256 != actual[p].sha256)
    missing = sorted(recorded.keys() - actual.keys())
    added = sorted(actual.keys() - recorded.keys())
    if changed or missing or added:
        parts = []
        for label, names in (("changed", changed), ("missing", missing), ("not in the manifest", added)):
            if names:
                shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
                parts.append(f"{label}: {shown}")
        raise ChecksumMismatchError(f"{what} differ from the manifest ({'; '.join(parts)}); {remedy}")
    return tuple(recorded[p] for p in sorted(recorded))
