"""The one manifest format: what preparation, technique derivation and publication write and read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mleredux.errors import ChecksumMismatchError
from mleredux.preparation.manifest import (
    MANIFEST,
    FileChecksum,
    Manifest,
    content_hash,
    parse_manifest,
    read_manifest,
    verify_files,
    write_manifest,
)

FILES = (
    FileChecksum("private/test.csv", "b" * 64, 20),
    FileChecksum("public/train.csv", "a" * 64, 10),
)


def test_written_and_read_back_unchanged_with_what_it_describes(tmp_path: Path) -> None:
    manifest = Manifest(FILES, {"task": "cv", "competition_id": "demo-digits", "seed": 3})
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    body = json.loads((tmp_path / MANIFEST).read_text())
    assert list(body) == ["version", "task", "competition_id", "seed", "content_hash", "files"]
    assert body["version"] == 1 and body["content_hash"] == content_hash(FILES)
    assert body["files"][1] == {"path": "public/train.csv", "sha256": "a" * 64, "size": 10}
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST]  # no temporary file left


def test_the_content_hash_names_the_files_unless_given() -> None:
    assert Manifest(FILES).content_hash == content_hash(FILES) != content_hash(FILES[:1])
    published = Manifest(FILES[1:], content_hash=content_hash(FILES))
    assert parse_manifest(published.to_json()).content_hash == content_hash(FILES)


def test_a_manifest_without_a_version_is_read_as_version_one() -> None:
    text = json.dumps({"competition_id": "x", "content_hash": "h", "files": []})
    assert parse_manifest(text) == Manifest((), {"competition_id": "x"}, content_hash="h")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "not a JSON object"),
        ('{"version": 1}', "files"),
        ('{"files": [{"path": "public/a.csv"}]}', "sha256"),
        ('{"files": [{"path": "p", "sha256": "s", "size": "big"}]}', "big"),
        ('{"version": 2, "files": []}', "format version 2"),
        ('{"files": [{"path": "../../etc/passwd", "sha256": "s", "size": 1}]}', "unsafe path"),
        ('{"files": [{"path": "/etc/passwd", "sha256": "s", "size": 1}]}', "unsafe path"),
    ],
)
def test_a_broken_manifest_says_what_is_wrong(text: str, says: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=says):
        parse_manifest(text)
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(ChecksumMismatchError, match=f"the manifest {tmp_path / MANIFEST} is unreadable"):
        read_manifest(tmp_path)


def test_a_missing_manifest_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatchError, match="unreadable"):
        read_manifest(tmp_path)


def test_verify_returns_the_files_sorted_when_they_match() -> None:
    assert verify_files(Manifest(FILES), tuple(reversed(FILES)), what="w", remedy="r") == FILES


def test_verify_names_changed_missing_and_unlisted_files() -> None:
    found = (
        FileChecksum("public/train.csv", "c" * 64, 10),  # changed
        FileChecksum("public/extra.csv", "d" * 64, 5),  # not listed
    )  # private/test.csv is missing
    with pytest.raises(ChecksumMismatchError) as caught:
        verify_files(Manifest(FILES), found, what="files of demo in /data", remedy="prepare again")
    assert str(caught.value) == (
        "files of demo in /data differ from the manifest (changed: public/train.csv; missing: private/test.csv; "
        "not in the manifest: public/extra.csv); prepare again"
    )


def test_verify_shortens_a_long_list() -> None:
    listed = tuple(FileChecksum(f"public/{i:02}.csv", "a", 1) for i in range(13))
    with pytest.raises(ChecksumMismatchError, match=r"missing: public/00\.csv, .*public/09\.csv and 3 more\)"):
        verify_files(Manifest(listed), (), what="w", remedy="r")
