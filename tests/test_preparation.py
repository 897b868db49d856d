"""Preparing demo-digits: deterministic split, no leaks, manifest verified on reuse, atomic output, publish."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mleredux.competitions import get_competition, list_competitions
from mleredux.errors import ChecksumMismatchError, StoreError, UnknownCompetitionError
from mleredux.preparation.prepare import PrepareProgress, prepare_competition, publish_dataset
from mleredux.preparation.published import fetch_published_dataset
from mleredux.store import LocalStore, S3Store


def test_split_is_deterministic_and_leaks_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # demo-digits draws a fresh secret seed per preparation (it is sealed); given the seed, all is determined.
    monkeypatch.setenv("MLEREDUX_DEMO_DIGITS_SEED", str(2**100 + 7))
    first = prepare_competition("demo-digits", tmp_path / "a")
    second = prepare_competition("demo-digits", tmp_path / "b")
    assert first.content_hash == second.content_hash and not first.reused
    public, private = first.public_dir, first.private_dir
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sample_submission.csv",
        "test.csv",
        "train.csv",
    ]
    train, test = pd.read_csv(public / "train.csv"), pd.read_csv(public / "test.csv")
    answers = pd.read_csv(private / "test.csv")
    assert len(train) + len(test) == 1797 and len(test) == 360
    assert "label" not in test.columns
    assert set(test["id"]) == set(answers["id"]) and not set(test["id"]) & set(train["id"])
    assert list(answers.columns) == ["id", "label"]
    # Stratified: every digit in both parts.
    assert set(answers["label"]) == set(train["label"]) == set(range(10))
    leaderboard = pd.read_csv(tmp_path / "a" / "demo-digits" / "leaderboard.csv")
    assert len(leaderboard) == 120 and "score" in leaderboard.columns
    assert "synthetic" in (public / "description.md").read_text()


def test_reuse_is_verified_and_a_mismatch_names_the_files(tmp_path: Path) -> None:
    prepare_competition("demo-digits", tmp_path)
    again = prepare_competition("demo-digits", tmp_path)
    assert again.reused
    train = tmp_path / "demo-digits" / "prepared" / "public" / "train.csv"
    train.write_text(train.read_text().replace("img_", "IMG_", 1))
    (tmp_path / "demo-digits" / "prepared" / "private" / "test.csv").unlink()
    with pytest.raises(ChecksumMismatchError) as caught:
        prepare_competition("demo-digits", tmp_path)
    assert "changed: public/train.csv" in str(caught.value)
    assert "missing: private/test.csv" in str(caught.value)
    fresh = prepare_competition("demo-digits", tmp_path, overwrite=True)
    assert not fresh.reused and (fresh.private_dir / "test.csv").is_file()
    assert list((tmp_path / "demo-digits").glob(".*")) == []


def test_a_failed_preparation_leaves_nothing_that_looks_prepared(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    competition = get_competition("demo-digits")

    def broken(raw, public, private):  # type: ignore[no-untyped-def]
        (public / "train.csv").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(competition, "prepare", broken)
    with pytest.raises(OSError, match="disk full"):
        prepare_competition("demo-digits", tmp_path)
    assert list((tmp_path / "demo-digits").iterdir()) == []


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[PrepareProgress] = []
    prepare_competition("demo-digits", tmp_path, progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[0] == "split" and stages[-1] == "done" and "checksum" in stages
    last_checksum = [p for p in seen if p.stage == "checksum"][-1]
    # four public files, the answers and the secret seed (private/seed.txt)
    assert last_checksum.files_done == last_checksum.files_total == 6
    assert last_checksum.bytes_done == last_checksum.bytes_total > 0


@pytest.mark.parametrize("kind", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_publish_puts_only_public_files_under_the_content_hash(kind: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    dataset = prepare_competition("demo-digits", tmp_path / "data")
    if kind == "local":
        store = LocalStore(tmp_path / "store")
    else:
        store = S3Store("datasets-test", request.getfixturevalue("s3_endpoint"), access_key="k", secret_key="s")
        store.check()
    prefix = publish_dataset(dataset, store)
    assert prefix == f"datasets/demo-digits/{dataset.content_hash}/"
    keys = sorted(o.key[len(prefix) :] for o in store.list(prefix))
    assert keys == sorted([f.path for f in dataset.public_files] + ["manifest.json"])
    assert not [k for k in keys if k.startswith("private/")]
    manifest = json.loads(store.get_bytes(prefix + "manifest.json"))
    assert manifest["content_hash"] == dataset.content_hash
    assert publish_dataset(dataset, store) == prefix  # idempotent


def test_registry_lists_demo_digits_and_suggests_on_typos() -> None:
    ids = [info.id for info in list_competitions()]
    assert "demo-digits" in ids
    with pytest.raises(UnknownCompetitionError, match="Did you mean 'demo-digits'"):
        get_competition("demo-digts")


def test_a_fetch_trusts_only_a_complete_and_intact_publication(tmp_path: Path) -> None:
    dataset = prepare_competition("demo-digits", tmp_path / "data")
    store = LocalStore(tmp_path / "store")
    prefix = f"datasets/demo-digits/{dataset.content_hash}/"
    store.put_file(prefix + "public/train.csv", dataset.public_dir / "train.csv")  # publishing cut short
    with pytest.raises(StoreError, match=r"manifest\.json is missing"):
        fetch_published_dataset(store, prefix, tmp_path / "host-b")
    assert publish_dataset(dataset, store) == prefix
    store.put_bytes(prefix + "public/train.csv", b"tampered\n")
    with pytest.raises(ChecksumMismatchError, match=r"public/train\.csv"):
        fetch_published_dataset(store, prefix, tmp_path / "host-b")
    assert not (tmp_path / "host-b").exists() and not list(tmp_path.glob(".fetch-*"))
    store.put_file(prefix + "public/train.csv", dataset.public_dir / "train.csv")
    fetched = fetch_published_dataset(store, prefix, tmp_path / "host-b")
    sample = "sample_submission.csv"
    assert (fetched / sample).read_bytes() == (dataset.public_dir / sample).read_bytes()
