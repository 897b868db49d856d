"""Raw files as Kaggle ships them: safe extraction and finding files inside (nested) archives."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mleredux.competitions import get_competition, list_competitions
from mleredux.competitions.catalog import CATALOG, LITE_COMPETITIONS
from mleredux.competitions.raw import RawData, RawFileMissingError, UnsafeArchiveError, safe_extract
from mleredux.errors import CompetitionNotSupportedError
from mleredux.preparation.prepare import prepare_competition


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_a_member_escaping_the_target_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "evil.zip", {"ok.csv": b"a\n1\n", "../../escaped.csv": b"x"})
    with pytest.raises(UnsafeArchiveError, match="would escape the target"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escaped.csv").exists()


def test_an_absolute_member_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "abs.zip", {"/etc/evil": b"x"})
    with pytest.raises(UnsafeArchiveError, match="escape"):
        safe_extract(archive, tmp_path / "out")


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("data/passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        safe_extract(path, tmp_path / "out")


def test_an_archive_over_the_size_cap_is_refused_before_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"a.bin": b"0" * 4096, "b.bin": b"0" * 4096})
    with pytest.raises(UnsafeArchiveError, match="expands to more than"):
        safe_extract(archive, tmp_path / "out", max_bytes=5000)
    assert not (tmp_path / "out").exists()


def test_free_disk_is_checked_before_extraction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(tmp_path / "data.zip", {"train.csv": b"a\n" * 1000})
    real = shutil.disk_usage

    def nearly_full(path: Any) -> Any:
        usage = real(path)
        return type(usage)(usage.total, usage.total - 100, 100)

    # The disk is the OS's; making it full for real is not possible in a test, so its report is.
    monkeypatch.setattr(shutil, "disk_usage", nearly_full)
    with pytest.raises(UnsafeArchiveError, match="MiB are free"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_corrupt_archive_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        safe_extract(path, tmp_path / "out")


def test_files_are_found_in_nested_archives_and_a_zipped_csv_is_not_shadowed(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    inner = make_zip(tmp_path / "train.zip", {"train/img1.png": b"png", "train/img2.png": b"png"})
    make_zip(root / "competition.zip", {"train.zip": inner.read_bytes()})
    make_zip(root / "labels.csv.zip", {"labels.csv": b"id,label\n1,0\n"})
    raw = RawData(root, tmp_path / "scratch")
    labels = raw.path("labels.csv")
    assert labels.is_file() and labels.read_text().startswith("id,label")
    folder = raw.path("train")
    assert folder.is_dir() and sorted(p.name for p in folder.iterdir()) == ["img1.png", "img2.png"]
    assert sorted(p.name for p in root.iterdir()) == ["competition.zip", "labels.csv.zip"], "raw is never written"
    with pytest.raises(RawFileMissingError, match=r"no 'test\.csv'"):
        raw.path("test.csv")


def test_the_registry_lists_every_mlebench_competition() -> None:
    listed = {info.id: info for info in list_competitions()}
    assert {info.id for info in CATALOG} <= set(listed)
    assert len(CATALOG) == 82 and "demo-digits" in listed
    assert all(info.supported for info in listed.values() if info.id in LITE_COMPETITIONS and info.id in listed)
    unsupported = [info for info in listed.values() if not info.supported]
    assert unsupported, "the medium and high splits are listed only"


def test_a_listed_but_unsupported_competition_says_so(tmp_path: Path) -> None:
    listed = next(info for info in list_competitions() if not info.supported)
    assert get_competition(listed.id).info == listed
    with pytest.raises(CompetitionNotSupportedError, match="not supported yet"):
        prepare_competition(listed.id, tmp_path, raw=tmp_path)
